"""pytest configuration shared by the unit tests and the notebooks run by ``pytest --nbval``.

The stored notebook outputs hold numbers from trained networks and fitted curves, and
floating-point sums depend on the vector instructions that a library picks at run time:
AVX-512 and AVX2 round differently, and a few hundred training steps (or an iterative fit)
turn that into a different third decimal. Every process of the test run (this one, and the
notebook kernels and their training workers, which inherit its environment) is therefore
held to AVX2, which every x86-64 CPU of the last decade has, in PyTorch's kernels (ATen,
oneDNN, MKL) and in NumPy's, so the outputs are the same on any of them. The variables must
be set before those libraries load, hence here. An explicit setting in the environment wins.
"""
import os

#: The environment that holds PyTorch and NumPy to AVX2 (the README gives the same).
CPU_SETTINGS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}

for name, value in CPU_SETTINGS.items():
    os.environ.setdefault(name, value)
