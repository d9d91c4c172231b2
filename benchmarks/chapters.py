"""Benchmark of chapter notebooks (run by hand; not a test).

    python benchmarks/chapters.py 05_data_not_free           # from the repository root
    python benchmarks/chapters.py 04_crossover 05_data_not_free --warm

Executes each named chapter of ``book/`` in a fresh kernel, in the order given, with one
model cache that starts empty, so the first chapter runs from a cold cache and later ones
find what earlier ones trained. With ``--warm``, runs them all again with the filled cache.
Prints the wall time and the peak resident memory of each kernel and of its largest child
process (a training worker). The kernels compute with AVX2 only, as in the test run
(`depthlab.cpu`), so that they run the notebooks the tests check.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
from depthlab import cpu  # noqa: E402  (after the path it lives on)

MEMORY = '''
import resource
print("BENCHMARK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
'''


def execute(notebook_path, cache, probe=MEMORY):
    """Runs a notebook in a fresh kernel with ``cache`` as the model cache, with ``probe``
    appended as a last cell that prints "BENCHMARK" and numbers; returns the wall time and
    those numbers."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(probe))
    os.environ["DEPTHLAB_CACHE"] = str(cache)  # the kernel inherits this environment
    client = NotebookClient(notebook, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    return seconds, [float(x) for x in text.split("BENCHMARK")[1].split()]


def main():
    cpu.hold_to_avx2()  # the kernels inherit this environment
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="+", help="notebook names in book/, e.g. 04_crossover")
    parser.add_argument("--warm", action="store_true", help="run them all again, warm")
    args = parser.parse_args()
    paths = [ROOT / "book" / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.chapters]
    for path in paths:
        if not path.is_file():
            parser.error(f"no chapter {path}")
    with tempfile.TemporaryDirectory() as cache:
        for state in ("cold", "warm") if args.warm else ("cold",):
            for i, path in enumerate(paths):
                seconds, (kernel_mb, child_mb) = execute(path, cache)
                label = state if state == "warm" or i == 0 else f"after {paths[i - 1].stem}"
                print(f"{path.stem} ({label}): {seconds:.0f} s, peak RSS kernel "
                      f"{kernel_mb:.0f} MB, largest child {child_mb:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
