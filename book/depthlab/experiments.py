"""The book's studies, callable from the notebooks and from the command line.

Command line (run from ``book/``, or with ``book`` on ``PYTHONPATH``)::

    python -m depthlab.experiments classical --scenes 200 --json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from . import _checks, classical, metrics, world

__all__ = ["ClassicalEvaluation", "evaluate_classical", "main", "test_scenes"]


def test_scenes(n_scenes: int, config: world.WorldConfig = world.WorldConfig()) -> world.Scene:
    """The first ``n_scenes`` held-out scenes (seed `world.HELD_OUT_SEED`), as one batch."""
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 100_000)
    return world.render_scenes(world.HELD_OUT_SEED, range(n_scenes), config)


@dataclasses.dataclass(frozen=True)
class ClassicalEvaluation:
    """Scores of the classical pipeline and of the constant-depth guess on the same scenes.

    Attributes
    ----------
    classical, constant : list of metrics.DepthMetrics
        One entry per scene.
    depth : (N, H, W) float32 array
        The pipeline's relative depth for each scene, for further analysis.
    reliable : (N,) bool array
        Whether the pipeline found enough matches in each scene.
    seconds_per_pair : (N,) float array
        Wall time of the pipeline on each pair (after a warm-up call).
    """

    classical: list
    constant: list
    depth: np.ndarray
    reliable: np.ndarray
    seconds_per_pair: np.ndarray

    def summary(self) -> dict:
        """Mean AbsRel and δ1 of both methods, ms per pair and the unreliable count."""
        c, k = metrics.mean_metrics(self.classical), metrics.mean_metrics(self.constant)
        return {"scenes": len(self.classical), "absrel": c.absrel, "delta1": c.delta1,
                "constant_absrel": k.absrel, "constant_delta1": k.delta1,
                "ms_per_pair": 1e3 * float(np.mean(self.seconds_per_pair)),
                "unreliable": int((~self.reliable).sum())}


def evaluate_classical(scenes: world.Scene, progress: bool = True,
                       **params) -> ClassicalEvaluation:
    """Runs the classical pipeline on every scene of a batch and scores it.

    Parameters
    ----------
    scenes : world.Scene
        A batch from `world.render_scenes` (or `test_scenes`).
    progress : bool
        Show a progress bar.
    **params
        Passed to `classical.run_pipeline`.

    Returns
    -------
    ClassicalEvaluation
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    classical.run_pipeline(scenes[0].frame0, scenes[0].frame1, **params)  # warm-up
    scored, constant, depth, reliable, seconds = [], [], [], [], []
    for i in tqdm(range(len(scenes)), desc="classical pipeline", disable=not progress):
        scene = scenes[i]
        start = time.perf_counter()
        result = classical.run_pipeline(scene.frame0, scene.frame1, **params)
        seconds.append(time.perf_counter() - start)
        depth.append(result.depth)
        reliable.append(result.reliable)
        scored.append(metrics.depth_metrics(result.depth, scene.depth))
        constant.append(metrics.depth_metrics(np.ones_like(scene.depth), scene.depth))
    return ClassicalEvaluation(scored, constant, np.stack(depth), np.array(reliable),
                               np.array(seconds))


def main(argv=None) -> int:
    """The command line: ``python -m depthlab.experiments classical --scenes N [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m depthlab.experiments",
                                     description="Run one of the book's studies.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("classical", help="the classical pipeline on held-out scenes")
    run.add_argument("--scenes", type=int, default=200, help="number of held-out scenes")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.scenes < 1:
        parser.error("--scenes must be at least 1")
    summary = evaluate_classical(test_scenes(args.scenes), progress=not args.json).summary()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
