"""The same numbers on any x86-64 CPU.

PyTorch (its ATen kernels, oneDNN and MKL), NumPy and the OpenBLAS that NumPy and SciPy ship
choose their vector instructions when they load. A CPU with AVX-512 rounds sums differently
from one with AVX2, and a few hundred training steps, or an iterative curve fit, turn that into
a different third decimal: the stored outputs of the notebooks would no longer match a fresh
run. `AVX2` holds all of them to
AVX2, which every x86-64 CPU of the last decade has. It only works in the environment of a
process that has not loaded torch or numpy yet, so `hold_to_avx2` is called where processes
start: the test run (``conftest.py``), the benchmarks and Binder (``binder/start``), whose
kernels and training workers inherit it.
"""
from __future__ import annotations

import os

__all__ = ["AVX2", "hold_to_avx2", "settings"]

#: The environment variables, and their values, that hold PyTorch, NumPy and OpenBLAS to AVX2.
#: OpenBLAS picks its kernels by CPU model: on an AMD EPYC with AVX-512 its choice moved a
#: fitted learning curve of the crossover chapter at the 8th digit; "Haswell" is its AVX2 set.
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OPENBLAS_CORETYPE": "Haswell"}


def hold_to_avx2(environ=os.environ) -> None:
    """Sets every variable of `AVX2` in ``environ`` that is not set already (an explicit
    setting wins).

    Parameters
    ----------
    environ : mapping
        The environment to change in place: this process's (`os.environ`) by default, or the
        ``env`` of a process about to start.
    """
    for name, value in AVX2.items():
        environ.setdefault(name, value)


def settings(environ=os.environ) -> dict:
    """The values of `AVX2`'s variables that a process holds (None where one is unset): two
    processes compute the same numbers only if these agree (`depthlab.parallel` checks a
    cluster's workers against the process that submits to them).

    Parameters
    ----------
    environ : mapping
        The environment to read: this process's by default.

    Returns
    -------
    dict of str to str or None
    """
    return {name: environ.get(name) for name in AVX2}
