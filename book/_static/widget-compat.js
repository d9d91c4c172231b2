// Loaded on every page (html_js_files in _config.yml).
// It makes the widget bundle (@jupyter-widgets/html-manager 1.0) work with this theme.

// Font Awesome's SVG mode would otherwise watch the page and swap the <i> icons of ipywidgets'
// Play buttons for <svg>, which breaks the widget when it updates its icon.
window.FontAwesomeConfig = {observeMutations: false};

// html-manager 1.0 typesets widget labels with MathJax 2's `MathJax.Hub.Queue`; the book uses
// MathJax 3, which has no Hub. Give whatever object is `window.MathJax` (the configuration
// first, MathJax 3 itself once it has loaded) a Hub whose Queue typesets with MathJax 3.
(function () {
  function withHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (job) {
          var element = Array.isArray(job) ? job[2] : null;
          if (element && window.MathJax && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise([element]);
          }
        }
      };
    }
    return mathjax;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
})();
