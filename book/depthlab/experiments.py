"""The book's studies, callable from the notebooks and from the command line.

Command line (run from ``book/``, or with ``book`` on ``PYTHONPATH``)::

    python -m depthlab.experiments classical --scenes 200 --json
    python -m depthlab.experiments crossover --json

Trained models and sweep results are cached on disk in ``.cache/depthlab`` at the top of the
repository (or in ``$DEPTHLAB_CACHE``), under a key made of every configuration and a hash of
the source of the modules that make the numbers (`world`, `classical`, `learned`, `metrics`),
so a second run is fast and a change to any of them starts afresh. The folder is never
committed; deleting it is always safe.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import pathlib
import sys
import time

import numpy as np
import scipy.optimize
import torch
from tqdm.auto import tqdm

from . import _checks, classical, learned, metrics, world

__all__ = ["CACHE", "CACHE_FORMAT", "METRICS", "SIZES", "SWEEP_CONFIG", "ClassicalEvaluation",
           "PowerLaw", "Sweep", "as_error", "code_version", "evaluate_classical",
           "fit_power_law", "main", "sweep", "test_scenes", "trained_model", "workers"]

#: Where trained models and sweep results are cached.
CACHE = pathlib.Path(os.environ.get("DEPTHLAB_CACHE",
                                    pathlib.Path(__file__).resolve().parents[2] / ".cache"
                                    / "depthlab"))

#: The sweep's training-set sizes: 8 sizes, log-spaced from 16 to 4096 scenes.
SIZES = tuple(int(round(16 * 256 ** (k / 7))) for k in range(8))

#: The sweep's training recipe: `learned.TrainConfig` on one thread, so that two models train
#: side by side on two cores and the result does not depend on how many run at once.
SWEEP_CONFIG = learned.TrainConfig(threads=1)

#: The metrics a sweep records, and whether larger is better.
METRICS = {"absrel": False, "delta1": True}


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


#: Bump when the way this module scores a sweep changes: it is part of every cache key.
CACHE_FORMAT = 1


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source of the modules that make the numbers: part of every cache key."""
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for module in (_checks, classical, learned, metrics, world):
        path = pathlib.Path(module.__file__)
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _key(*parts) -> str:
    text = json.dumps([dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p
                       for p in parts] + [code_version()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _write_atomic(path: pathlib.Path, write) -> None:
    """Writes through a temporary file, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    write(partial)
    partial.replace(path)


def trained_model(n_scenes: int, seed: int = 0,
                  world_config: world.WorldConfig = world.WorldConfig(),
                  config: learned.TrainConfig = learned.TrainConfig(),
                  progress: bool = True) -> learned.DepthModel:
    """`learned.train` on ``n_scenes`` scenes with ``seed``, through the disk cache."""
    if not isinstance(config, learned.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    path = CACHE / f"model-{_key(n_scenes, config, learned.ModelConfig(), world_config)}.pt"
    if path.is_file():
        return learned.load(path)
    model = learned.train(n_scenes, config, world_config=world_config, progress=progress)
    _write_atomic(path, lambda target: learned.save(model, target))
    return model


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """A learning curve ``error(N) = alpha * N**beta + floor`` (Hestness et al., 2017)."""

    alpha: float
    beta: float
    floor: float

    def __call__(self, n):
        return self.alpha * np.asarray(n, float) ** self.beta + self.floor

    def reaches(self, error: float) -> float:
        """The N at which the curve falls to ``error`` (inf if it never does)."""
        if error <= self.floor:
            return float("inf")
        return float(((error - self.floor) / self.alpha) ** (1.0 / self.beta))


def fit_power_law(sizes, errors) -> PowerLaw:
    """Least-squares fit of `PowerLaw` to errors (lower is better) at training-set sizes.

    Parameters
    ----------
    sizes : (K,) array of positive numbers, K >= 3
    errors : (K,) array, or (K, S) for S seeds (fitted to every seed's points at once)
    """
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    if sizes.ndim != 1 or len(sizes) < 3 or (sizes <= 0).any():
        raise ValueError("sizes must be at least 3 positive numbers")
    if errors.shape[0] != len(sizes) or errors.ndim > 2 or not np.isfinite(errors).all():
        raise ValueError(f"errors must be finite, shaped ({len(sizes)},) or ({len(sizes)}, "
                         f"seeds), got {errors.shape}")
    n = np.broadcast_to(sizes.reshape(-1, *([1] * (errors.ndim - 1))), errors.shape).ravel()
    e = errors.ravel()
    start = (max(e.max() - e.min(), 1e-6) * 16 ** 0.5, -0.5, max(e.min() * 0.9, 0.0))
    (alpha, beta, floor), _ = scipy.optimize.curve_fit(
        lambda x, a, b, c: a * x ** b + c, n, e, p0=start,
        bounds=([0.0, -3.0, 0.0], [np.inf, 0.0, np.inf]), maxfev=20000)
    return PowerLaw(float(alpha), float(beta), float(floor))


def as_error(metric: str, values):
    """Values of ``metric`` as errors, lower is better: ``1 - delta1``, AbsRel unchanged."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return 1.0 - np.asarray(values) if METRICS[metric] else np.asarray(values)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """The learned model at several training-set sizes and seeds, against fixed methods.

    Attributes
    ----------
    sizes : tuple of int
    seeds : tuple of int
    learned : dict
        Metric name to a (sizes, seeds) array of mean test scores.
    methods : dict
        Method name ("classical", "motion_stereo", "constant") to {metric: mean test score};
        these do not train, so one score each.
    world_config : world.WorldConfig
        The world of the training and test scenes.
    n_test : int
        Held-out test scenes.
    config : learned.TrainConfig
        The training recipe (its seed aside).
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    methods: dict
    world_config: world.WorldConfig
    n_test: int
    config: learned.TrainConfig = SWEEP_CONFIG

    def model(self, n_scenes: int, seed: int) -> learned.DepthModel:
        """The trained model of one size and seed, from the cache (trained if missing)."""
        return trained_model(n_scenes, seed, self.world_config, self.config, progress=False)

    def crossover(self, metric: str, method: str = "classical") -> np.ndarray:
        """Per seed, the training-set size from which the learned model stays better than
        ``method``: interpolated in log N between the two sizes around the crossing. NaN when
        it is not better at the largest size; ``sizes[0]`` when it is better everywhere."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
        if method not in self.methods:
            raise ValueError(f"method must be one of {sorted(self.methods)}, got {method!r}")
        gap = (as_error(metric, self.learned[metric])
               - as_error(metric, self.methods[method][metric]))
        logs = np.log(np.asarray(self.sizes, float))
        result = np.full(len(self.seeds), np.nan)
        for s in range(len(self.seeds)):
            worse = np.flatnonzero(gap[:, s] >= 0)
            if len(worse) == 0:
                result[s] = self.sizes[0]
            elif worse[-1] < len(self.sizes) - 1:
                i = worse[-1]
                t = gap[i, s] / (gap[i, s] - gap[i + 1, s])
                result[s] = float(np.exp(logs[i] + t * (logs[i + 1] - logs[i])))
        return result

    def power_law(self, metric: str) -> PowerLaw:
        """`fit_power_law` of the learned model's error on ``metric`` over all seeds."""
        return fit_power_law(self.sizes, as_error(metric, self.learned[metric]))

    def to_json(self) -> dict:
        """The command line's JSON: per-method (sizes, seeds) arrays and the crossovers."""
        shape = (len(self.sizes), len(self.seeds))
        out = {"sizes": list(self.sizes), "seeds": list(self.seeds), "n_test": self.n_test,
               "learned": {m: np.asarray(v).tolist() for m, v in self.learned.items()}}
        for method, scores in self.methods.items():
            out[method] = {m: np.full(shape, v).tolist() for m, v in scores.items()}
        out["crossover_n"] = {}
        for metric in METRICS:
            n = self.crossover(metric)
            out["crossover_n"][metric] = {
                "per_seed": [None if np.isnan(x) else round(float(x), 1) for x in n],
                "median": None if np.isnan(n).any() else round(float(np.median(n)), 1),
                "interval": None if np.isnan(n).any() else [round(float(n.min()), 1),
                                                             round(float(n.max()), 1)]}
        return out


def _score(depths, scenes) -> dict:
    scores = metrics.mean_metrics([metrics.depth_metrics(depths[i], scenes.depth[i])
                                   for i in range(len(depths))])
    return {m: float(getattr(scores, m)) for m in METRICS}


def _train_one(n_scenes, seed, world_config, config):
    """Worker: trains (or finds in the cache) one model of a sweep."""
    torch.set_num_threads(config.threads)
    trained_model(n_scenes, seed, world_config, config, progress=False)


def _limit(paths):
    """The first limit found in cgroup files: a number, or (cgroup v2) "quota period" as their
    ratio; "max" or -1 mean none (inf)."""
    for path in paths:
        try:
            fields = pathlib.Path(path).read_text().split()
        except OSError:
            continue
        if fields and fields[0] not in ("max", "-1"):
            return float(fields[0]) / (float(fields[1]) if len(fields) > 1 else 1.0)
    return float("inf")


def workers() -> int:
    """Training processes a sweep uses: 2 where two cores and 6 GB of memory are free to it,
    else 1, in the notebook's own process. Each worker holds up to about 1.2 GB; Binder gives
    1 CPU and 2 GB, which the CPU_LIMIT and MEM_LIMIT variables and the cgroup files tell."""
    # cgroup v1 keeps the CPU quota and its period in two files: without both, no limit.
    quota = _limit(["/sys/fs/cgroup/cpu/cpu.cfs_quota_us"])
    period = _limit(["/sys/fs/cgroup/cpu/cpu.cfs_period_us"])
    cpus = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1,
               float(os.environ.get("CPU_LIMIT") or "inf"),
               _limit(["/sys/fs/cgroup/cpu.max"]),
               quota / period if np.isfinite(quota) and np.isfinite(period) else float("inf"))
    memory = min(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                 float(os.environ.get("MEM_LIMIT") or "inf"),
                 _limit(["/sys/fs/cgroup/memory.max",
                         "/sys/fs/cgroup/memory/memory.limit_in_bytes"]))
    return 2 if cpus >= 2 and memory >= 6 * 2**30 else 1


def _train_all(runs, world_config, config, progress):
    """Trains the (size, seed) runs of a sweep into the cache, on `workers` processes."""
    workers_ = workers()
    bar = tqdm(total=len(runs), desc="training-set sizes x seeds", disable=not progress)
    if workers_ == 1:
        for n, seed in runs:
            _train_one(n, seed, world_config, config)
            bar.update()
    else:
        # "spawn" starts clean interpreters: forking a process that already runs torch's
        # thread pool can deadlock.
        with concurrent.futures.ProcessPoolExecutor(
                workers_, mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(_train_one, n, seed, world_config, config)
                    for n, seed in runs]
            for job in concurrent.futures.as_completed(jobs):
                job.result()
                bar.update()
    bar.close()


def sweep(sizes=SIZES, seeds=(0, 1, 2), world_config: world.WorldConfig = world.WorldConfig(),
          n_test: int = 200, config: learned.TrainConfig = SWEEP_CONFIG,
          progress: bool = True) -> Sweep:
    """Trains the learned model at every size and seed and scores everything on the same
    ``n_test`` held-out scenes of ``world_config``; cached on disk (see the module notes).
    Training runs on `workers` processes.

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing, at least 2.
    seeds : sequence of int
        Training seeds, at least 1.
    world_config : world.WorldConfig
    n_test : int
    config : learned.TrainConfig
        The training recipe; its seed is replaced by each of ``seeds``.
    progress : bool
        Show a progress bar over the models.
    """
    sizes = tuple(_checks.integer("sizes", n, 1, 10**6) for n in sizes)
    seeds = tuple(_checks.integer("seeds", s, 0, 2**32 - 1) for s in seeds)
    if len(sizes) < 2 or list(sizes) != sorted(set(sizes)):
        raise ValueError(f"sizes must be at least 2 increasing sizes, got {sizes}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least 1 distinct seed, got {seeds}")
    if not isinstance(world_config, world.WorldConfig):
        raise TypeError(f"world_config must be a WorldConfig, got {type(world_config).__name__}")
    if not isinstance(config, learned.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    n_test = _checks.integer("n_test", n_test, 1, 100_000)
    path = CACHE / f"sweep-{_key(sizes, seeds, world_config, n_test, config)}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        return Sweep(sizes, seeds, {m: np.array(v) for m, v in saved["learned"].items()},
                     saved["methods"], world_config, n_test, config)
    scenes = test_scenes(n_test, world_config)
    pipeline = evaluate_classical(scenes, progress=False)
    methods = {"classical": _score(pipeline.depth, scenes),
               "motion_stereo": _score([classical.motion_stereo(scenes.frame0[i],
                                                                scenes.frame1[i])
                                        for i in range(n_test)], scenes),
               "constant": _score(np.ones_like(scenes.depth), scenes)}
    runs = [(n, seed) for n in sizes for seed in seeds]
    _train_all(runs, world_config, config, progress)
    scores = {m: np.zeros((len(sizes), len(seeds))) for m in METRICS}
    for i, n in enumerate(sizes):
        for j, seed in enumerate(seeds):
            model = trained_model(n, seed, world_config, config, progress=False)
            depth = learned.predict_batch(model, scenes.frame0, scenes.frame1)
            for metric, value in _score(depth, scenes).items():
                scores[metric][i, j] = value
    _write_atomic(path, lambda target: target.write_text(json.dumps(
        {"learned": {m: v.tolist() for m, v in scores.items()}, "methods": methods})))
    return Sweep(sizes, seeds, scores, methods, world_config, n_test, config)


def main(argv=None) -> int:
    """The command line: ``classical --scenes N [--json]`` or ``crossover [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m depthlab.experiments",
                                     description="Run one of the book's studies.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("classical", help="the classical pipeline on held-out scenes")
    run.add_argument("--scenes", type=int, default=200, help="number of held-out scenes")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    cross = commands.add_parser("crossover", help="the learned model's learning curve against "
                                "the classical pipeline (cached; cold, about 10 minutes)")
    cross.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS - 1")
    cross.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.command == "crossover":
        if args.seeds < 1:
            parser.error("--seeds must be at least 1")
        result = sweep(seeds=range(args.seeds), progress=not args.json).to_json()
        if args.json:
            print(json.dumps(result))
        else:
            for metric in METRICS:
                print(f"{metric}: classical {result['classical'][metric][0][0]:.3f}")
                for n, row in zip(result["sizes"], result["learned"][metric]):
                    print(f"  learned, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))
                print(f"  crossover N: {result['crossover_n'][metric]}")
        return 0
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
