"""pytest configuration shared by the unit tests and the notebooks run by ``pytest --nbval``.

Every process of the test run (this one, and the notebook kernels and their training workers,
which inherit its environment) computes with AVX2 only, so that the notebooks reproduce their
stored outputs on any x86-64 CPU (see `depthlab.cpu`). This runs before anything loads torch
or numpy; ``pythonpath = book`` makes `depthlab` importable here.
"""
from depthlab import cpu

cpu.hold_to_avx2()
