"""Sphinx extension: each page loads a script at most once.

sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL = ...``) every
time Sphinx reads the sources. When it lands on a page twice, the browser throws "Identifier
'THEBE_JS_URL' has already been declared" and the rest of that script never runs. This keeps the
first of any scripts with the same file and attributes (an inline script's body is one of
them) on every page.
"""


def _keep_first(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        # An inline script is registered with the file name None or "": the same thing.
        key = (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _keep_first)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
