"""Speed benchmark of the book's building blocks (run by hand; not a test).

    python benchmarks/speed.py            # from the repository root

Prints scenes rendered per second (one core), the classical pipeline's time per pair (after
warm-up), with SIFT's descriptor and with a learned one (`depthlab.features`), the learned
descriptor's training time (rendering its scenes included, one thread, as in the sweep), the
learned model's training time and batched inference time per pair, and the peak resident
memory, and the wall time of each round of one continuous improvement loop at its default
settings (`depthlab.loop`, in a scratch database; its first model comes from the model cache, or
is trained first). The targets: a descriptor trains in 10 s or less, the pipeline with it takes
15 ms or less per pair, and a round of the loop takes 15 s or less.
"""
import pathlib
import resource
import sys
import tempfile
import time

import torch

from depthlab import classical, experiments, features, learned, loop, timing, world


def world_speed(n_scenes=1024, batch=64):
    world.render_scenes(0, range(batch))  # warm-up: texture atlas

    def render():
        for first in range(0, n_scenes, batch):
            world.render_scenes(0, range(first, first + batch))

    # the world's budget is stated for one core
    return n_scenes / timing.fastest({"render": render}, repeats=5, n_threads=1)["render"]


def classical_speed(n_pairs=100, descriptor=None):
    """ms per pair of the whole pipeline (detection, description, matching, RANSAC, depth)."""
    scenes = experiments.test_scenes(n_pairs)
    # warm-up: SIFT's first call
    classical.run_pipeline(scenes[0].frame0, scenes[0].frame1, descriptor=descriptor)

    def run():
        for i in range(n_pairs):
            classical.run_pipeline(scenes[i].frame0, scenes[i].frame1, descriptor=descriptor)

    return 1e3 * timing.fastest({"run": run}, repeats=3, n_threads=1)["run"] / n_pairs


def descriptor_speed(sizes=(16, 4096)):
    """Seconds to train the sweep's descriptor (one thread), rendering included, per size."""
    seconds = {}
    for n in sizes:
        start = time.perf_counter()
        descriptor = features.train(n, config=experiments.FEATURE_CONFIG, progress=False)
        seconds[n] = time.perf_counter() - start
    return seconds, descriptor


def learned_speed(sizes=(16, 4096), n_pairs=200):
    """Training seconds per model (data rendering excluded) and inference ms per pair."""
    torch.set_num_threads(2)
    seconds = {}
    for n in sizes:
        learned.SceneDataset(n)  # render (and cache) the training scenes first
        start = time.perf_counter()
        model = learned.train(n, progress=False)
        seconds[n] = time.perf_counter() - start
    scenes = experiments.test_scenes(n_pairs)
    learned.predict_batch(model, scenes.frame0[:10], scenes.frame1[:10])  # warm-up
    infer = timing.fastest(
        {"infer": lambda: learned.predict_batch(model, scenes.frame0, scenes.frame1)},
        repeats=3, n_threads=2)["infer"]
    return seconds, 1e3 * infer / n_pairs, model.train_config


def loop_round_speed():
    """Wall time of each round of a loop at the default settings, run one round per call, as a
    reader who resumes it round by round would (opening the database and loading the champion
    included)."""
    config = loop.LoopConfig()
    rounds = len(loop.PHASES) * config.phase_rounds
    with tempfile.TemporaryDirectory() as folder:
        db = pathlib.Path(folder) / "loop.sqlite"
        loop.run(db, 1, config=config, progress=False)  # the first model, and round 1 as a warm-up
        seconds = []
        for r in range(2, rounds + 1):
            start = time.perf_counter()
            loop.run(db, r, config=config, progress=False)
            seconds.append(time.perf_counter() - start)
    return seconds


def main():
    print(f"world: {world_speed():.0f} scenes/s at 64 x 96 on one core (best of 5)")
    print(f"classical pipeline: {classical_speed():.1f} ms per pair at 64 x 96, one thread "
          "(best of 3)")
    seconds, descriptor = descriptor_speed()
    for n, s in seconds.items():
        print(f"learned descriptor: {s:.1f} s to train on {n} scenes, one thread "
              f"({descriptor.train_config.steps} steps)")
    torch.set_num_threads(1)
    print(f"pipeline with the learned descriptor: {classical_speed(descriptor=descriptor):.1f} ms "
          "per pair at 64 x 96, one thread (best of 3)")
    seconds, ms_per_pair, config = learned_speed()
    for n, s in seconds.items():
        print(f"learned model: {s:.1f} s to train on {n} scenes ({config.steps} steps, "
              f"{1e3 * s / config.steps:.0f} ms per step)")
    print(f"learned model: {ms_per_pair:.2f} ms per pair in batches of 100 (best of 3)")
    seconds = loop_round_speed()
    print(f"loop: a round takes {max(seconds):.1f} s at most and "
          f"{sum(seconds) / len(seconds):.1f} s "
          f"on average at the default settings, one thread (rounds 2 to {len(seconds) + 1})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
