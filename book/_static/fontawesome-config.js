// Loaded on every page (html_js_files in _config.yml), before the theme's Font Awesome script.
// Font Awesome's SVG mode would otherwise watch the page and swap the <i> icons of ipywidgets'
// Play buttons for <svg>, which breaks the widget when it updates its icon.
window.FontAwesomeConfig = {observeMutations: false};
