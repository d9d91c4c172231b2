// Part of the book (not from npm). Loaded just before require.js on pages with widgets
// (nb_ipywidgets_js in _config.yml).
//
// embed-amd.js finds its icon fonts (*.woff2) in the folder of its RequireJS modules, and
// RequireJS puts the modules named "@jupyter-widgets/..." under the page's own folder by
// default (book/@jupyter-widgets/...), where nothing is served. Map them to this folder, so
// the fonts next to embed-amd.js are found from a page at any depth. A plain object in
// window.require before require.js loads is RequireJS's documented way to pass a config.
(function () {
  var src = document.currentScript.src.split("?")[0];
  var here = src.slice(0, src.lastIndexOf("/"));
  window.require = {
    paths: {
      "@jupyter-widgets": here,
      "@jupyter-widgets/html-manager/dist": here
    }
  };
})();
