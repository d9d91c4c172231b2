"""Benchmark of the crossover chapter (run by hand; not a test).

    python benchmarks/crossover.py        # from the repository root; about 15 minutes

Executes ``book/05_crossover.ipynb`` in a fresh kernel twice: first with an empty model cache
(cold: the whole study trains), then with the cache that run filled (warm). After the warm run,
the same kernel times changes of the live explorer's data-size slider (to every size, twice)
and one press of its "train at this N now" button at the largest size (training, scoring and
the redraw). Prints the wall times and the peak resident memory of the kernel (both runs) and
of its training workers (cold run).
"""
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run_notebooks import ROOT, execute  # noqa: E402  (the benchmark folder is not a package)

NOTEBOOK = ROOT / "book" / "05_crossover.ipynb"

PROBE = '''
import resource
import time as _time

_slider, _button = live_explorer.children[0], live_explorer.children[2]
_changes = []
for _n in [*sizes[::-1], *sizes]:
    _start = _time.perf_counter()
    _slider.value = int(_n)
    _changes.append(_time.perf_counter() - _start)
_slider.value = int(sizes[-1])
_start = _time.perf_counter()
_button.click()
_retrain = _time.perf_counter() - _start
print("BENCHMARK", max(_changes), sum(_changes) / len(_changes), _retrain,
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
'''


def main():
    with tempfile.TemporaryDirectory() as cache:
        cold, (cold_kernel_mb, workers_mb), _ = execute(NOTEBOOK, cache)
        print(f"chapter, cold cache: {cold:.0f} s")
        warm, (worst, mean, retrain, kernel_mb, _), _ = execute(NOTEBOOK, cache, PROBE)
    print(f"chapter, warm cache: {warm - retrain:.0f} s "
          f"(the probe's {retrain:.0f} s retrain excluded)")
    print(f"live explorer, slider change: {1e3 * mean:.0f} ms mean, {1e3 * worst:.0f} ms worst")
    print(f"live retrain at the largest size (train, score, draw): {retrain:.1f} s")
    print(f"peak RSS: kernel {cold_kernel_mb:.0f} MB cold, {kernel_mb:.0f} MB warm with the "
          f"retrain; largest training worker {workers_mb:.0f} MB")


if __name__ == "__main__":
    main()
