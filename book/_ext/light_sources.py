"""Sphinx extension: the site's downloadable notebooks come without their outputs.

The download button of each chapter offers ``_sources/book/<chapter>.ipynb``, a copy of the
executed notebook with every figure and the widget state: 11.5 MB in all, a third of the site,
and the same figures the page already shows. When an HTML build finishes this rewrites those
copies without outputs, execution counts and widget state: the notebook a reader downloads is
the one they run, and it is a few dozen KB.
"""
import pathlib

import nbformat


def _strip(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in pathlib.Path(app.outdir, "_sources").rglob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, path)


def setup(app):
    app.connect("build-finished", _strip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
