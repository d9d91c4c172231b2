"""pytest configuration shared by the unit tests and the notebooks run by ``pytest --nbval``.

The stored notebook outputs hold numbers from trained networks, and floating-point sums in
PyTorch's CPU kernels (ATen, oneDNN, MKL) depend on the vector instructions they use: AVX-512
and AVX2 round differently, and a few hundred training steps turn that into a different
third decimal. Every process of the test run (this one, the notebook kernels and their
training workers inherit its environment) is therefore held to AVX2, which every x86-64 CPU
of the last decade has, so the outputs are the same on any of them. The variables must be
set before torch is first imported, hence here. An explicit setting in the environment wins.
"""
import os

for name, value in {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                    "MKL_ENABLE_INSTRUCTIONS": "AVX2"}.items():
    os.environ.setdefault(name, value)
