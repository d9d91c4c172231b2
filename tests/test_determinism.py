"""A second execution of every chapter gives its stored outputs again.

`pytest --nbval` runs each chapter once, from whatever model cache it finds (in CI, an empty
one), and compares the outputs with the stored ones. These tests run after it (see
``conftest.py``) and execute every chapter once more in a fresh kernel, now with the models,
studies and loops of the first run cached, and compare again by nbval's rules: a cached result
must give exactly what a fresh computation gave, and no output may depend on the run. The
benchmark ``benchmarks/run_notebooks.py`` makes the same comparison, and times both runs.

Without ``--nbval`` they are skipped: alone, the first of them would train everything.
"""
import nbformat
import pytest
from run_notebooks import BOOK, CHAPTERS, differences, execute

from depthlab import cache

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def after_nbval(request):
    if not request.config.getoption("--nbval", default=False):
        pytest.skip("runs with pytest --nbval, after the notebooks")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_second_run_gives_the_stored_outputs(chapter):
    path = BOOK / f"{chapter}.ipynb"
    _, _, notebook = execute(path, cache.directory())
    assert differences(notebook, nbformat.read(path, as_version=4)) == {}, \
        "these cells' outputs (cell index: fresh and stored) differ on a second run"
