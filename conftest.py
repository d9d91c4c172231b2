"""pytest configuration shared by the unit tests and the notebooks run by ``pytest --nbval``.

Every process of the test run (this one, and the notebook kernels and their training workers,
which inherit its environment) computes with AVX2 only, so that the notebooks reproduce their
stored outputs on any x86-64 CPU (see `depthlab.cpu`). This runs before anything loads torch
or numpy; ``pythonpath = book`` makes `depthlab` importable here.

The test run never fetches published results (`depthlab.published`): every process computes
every number from scratch, and the tests of fetching set their own address.
"""
import os

from depthlab import cpu, published

cpu.hold_to_avx2()
os.environ[published.VARIABLE] = "off"


def pytest_collection_modifyitems(items):
    """The second executions of tests/test_determinism.py run last, after ``--nbval`` has run
    every notebook once."""
    items.sort(key=lambda item: item.path.name == "test_determinism.py")
