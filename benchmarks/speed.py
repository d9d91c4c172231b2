"""Speed benchmark of the book's building blocks (run by hand; not a test).

    python benchmarks/speed.py            # from the repository root

Prints scenes rendered per second (one core) and the classical pipeline's time per pair
(after warm-up), each as the best of several repeats, plus the peak resident memory.
"""
import pathlib
import resource
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "book"))
from depthlab import classical, experiments, world  # noqa: E402


def best_of(repeats, run):
    """The shortest wall time of ``run()`` over ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def world_speed(n_scenes=1024, batch=64):
    cv2.setNumThreads(1)  # the world's budget is stated for one core
    world.render_scenes(0, range(batch))  # warm-up: texture atlas

    def render():
        for first in range(0, n_scenes, batch):
            world.render_scenes(0, range(first, first + batch))

    seconds = best_of(5, render)
    cv2.setNumThreads(-1)
    return n_scenes / seconds


def classical_speed(n_pairs=100):
    scenes = experiments.test_scenes(n_pairs)
    classical.run_pipeline(scenes[0].frame0, scenes[0].frame1)  # warm-up: SIFT's first call

    def run():
        for i in range(n_pairs):
            classical.run_pipeline(scenes[i].frame0, scenes[i].frame1)

    return 1e3 * best_of(3, run) / n_pairs


def main():
    print(f"world: {world_speed():.0f} scenes/s at 64 x 96 on one core (best of 5)")
    print(f"classical pipeline: {classical_speed():.1f} ms per pair at 64 x 96 (best of 3)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
