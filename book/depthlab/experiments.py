"""The book's studies, callable from the notebooks and from the command line.

Command line (run from ``book/``, or with ``book`` on ``PYTHONPATH``)::

    python -m depthlab.experiments classical --scenes 200 --json
    python -m depthlab.experiments features --json
    python -m depthlab.experiments crossover --json
    python -m depthlab.experiments duplicates --json

Trained models and sweep results are cached on disk in ``.cache/depthlab`` at the top of the
repository (or in ``$DEPTHLAB_CACHE``), under a key made of every configuration and a hash of
the source of the modules that make the numbers (`world`, `classical`, `learned`, `features`,
`metrics`),
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

import cv2
import numpy as np
import scipy.optimize
import torch
from tqdm.auto import tqdm

from . import _checks, classical, features, learned, metrics, world

__all__ = ["CACHE", "CACHE_FORMAT", "DATA_NOMINAL", "DATA_UNIQUE", "FEATURE_CONFIG",
           "FEATURE_METRICS", "FILLS", "LABEL_NOISE", "METRICS", "SIZES", "SWEEP_CONFIG",
           "ClassicalEvaluation", "CostModel", "DataStudy", "FeatureCurve", "PowerLaw", "Sweep",
           "as_error", "cache_key", "code_version", "data_study", "evaluate_classical",
           "feature_curve", "fit_power_law", "main", "pipeline_scores", "run_parallel", "sweep",
           "test_scenes", "trained_descriptor", "trained_model", "workers", "write_atomic"]

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

#: The learned descriptor's training recipe in the sweep, on one thread like `SWEEP_CONFIG`.
FEATURE_CONFIG = features.DescriptorTrainConfig()

#: What the pipeline with a learned descriptor records: the depth metrics, and the precision
#: and recall of its ratio-test matches (`features.matching_quality`); all larger-is-better
#: except AbsRel.
FEATURE_METRICS = {**METRICS, "precision": True, "recall": True}


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
    for module in (_checks, classical, features, learned, metrics, world):
        path = pathlib.Path(module.__file__)
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(*parts) -> str:
    """A short hash of ``parts`` (dataclasses or JSON values) and `code_version`: the name of
    a cached result."""
    text = json.dumps([dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p
                       for p in parts] + [code_version()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def write_atomic(path: pathlib.Path, write) -> None:
    """Writes through a temporary file, so an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    write(partial)
    partial.replace(path)


def trained_model(n_scenes: int, seed: int = 0,
                  world_config: world.WorldConfig = world.WorldConfig(),
                  config: learned.TrainConfig = learned.TrainConfig(),
                  progress: bool = True,
                  data: learned.DataConfig = learned.DataConfig()) -> learned.DepthModel:
    """`learned.train` on ``n_scenes`` items (made as ``data`` says) with ``seed``, through
    the disk cache."""
    if not isinstance(config, learned.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(data, learned.DataConfig):
        raise TypeError(f"data must be a DataConfig, got {type(data).__name__}")
    config = dataclasses.replace(config, seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    key = cache_key(n_scenes, config, learned.ModelConfig(), world_config, data)
    path = CACHE / f"model-{key}.pt"
    if path.is_file():
        return learned.load(path)
    model = learned.train(n_scenes, config, world_config=world_config, progress=progress,
                          data=data)
    write_atomic(path, lambda target: learned.save(model, target))
    return model


def trained_descriptor(n_scenes: int, seed: int = 0,
                       world_config: world.WorldConfig = world.WorldConfig(),
                       config: features.DescriptorTrainConfig = FEATURE_CONFIG,
                       progress: bool = True) -> features.LearnedDescriptor:
    """`features.train` on the first ``n_scenes`` training scenes with ``seed``, through the
    disk cache; ``n_scenes = 0`` gives `features.untrained`."""
    if not isinstance(config, features.DescriptorTrainConfig):
        raise TypeError(f"config must be a DescriptorTrainConfig, got {type(config).__name__}")
    seed = _checks.integer("seed", seed, 0, 2**32 - 1)
    if _checks.integer("n_scenes", n_scenes, 0, 10**6) == 0:
        return features.untrained(seed=seed)
    config = dataclasses.replace(config, seed=seed)
    path = CACHE / f"descriptor-{cache_key(n_scenes, config, world_config)}.pt"
    if path.is_file():
        return features.load(path)
    descriptor = features.train(n_scenes, config, world_config=world_config, progress=progress)
    write_atomic(path, lambda target: features.save(descriptor, target))
    return descriptor


def pipeline_scores(scenes: world.Scene, descriptor=None) -> dict:
    """The classical pipeline on every scene of a batch, with SIFT's descriptor or
    ``descriptor``: mean AbsRel and δ1, and the pooled precision and recall of the ratio-test
    matches (`features.matching_quality`)."""
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    quality, depth = features.MatchingQuality(0, 0, 0), []
    for i in range(len(scenes)):
        result = classical.run_pipeline(scenes.frame0[i], scenes.frame1[i], descriptor=descriptor)
        quality += features.matching_quality(result, scenes[i])
        depth.append(result.depth)
    return {**_score(depth, scenes), "precision": quality.precision, "recall": quality.recall}


@dataclasses.dataclass(frozen=True)
class FeatureCurve:
    """The pipeline with a learned descriptor at several training-set sizes and seeds.

    Attributes
    ----------
    sizes, seeds : tuple of int
    learned : dict
        `FEATURE_METRICS` name to a (sizes, seeds) array of test scores.
    untrained : dict
        Metric name to (seeds,) test scores of the same descriptor with random weights.
    sift : dict
        Metric name to the test score of the pipeline with SIFT's own descriptor.
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    untrained: dict
    sift: dict

    def to_json(self) -> dict:
        """The command line's JSON: (sizes, seeds) arrays of the learned descriptor, (seeds,)
        arrays of the untrained one, and SIFT's scores."""
        return {"sizes": list(self.sizes), "seeds": list(self.seeds),
                "learned_features": {m: np.asarray(v).tolist() for m, v in self.learned.items()},
                "untrained": {m: np.asarray(v).tolist() for m, v in self.untrained.items()},
                "sift": dict(self.sift)}


def _features_one(n_scenes, seed, world_config, config, n_test):
    """Worker: trains (or finds in the cache) one descriptor and scores it on the test scenes,
    on one core (torch's and OpenCV's threads alike)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    descriptor = trained_descriptor(n_scenes, seed, world_config, config, progress=False)
    return pipeline_scores(test_scenes(n_test, world_config), descriptor)


def feature_curve(sizes=SIZES, seeds=(0, 1, 2),
                  world_config: world.WorldConfig = world.WorldConfig(), n_test: int = 200,
                  config: features.DescriptorTrainConfig = FEATURE_CONFIG,
                  progress: bool = True) -> FeatureCurve:
    """Trains the learned descriptor at every size and seed and scores the pipeline that uses
    it on the sweep's held-out scenes; cached on disk. Training and scoring run on `workers`
    processes.

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing, at least 2.
    seeds : sequence of int
    world_config : world.WorldConfig
    n_test : int
    config : features.DescriptorTrainConfig
        The recipe; its seed is replaced by each of ``seeds``.
    progress : bool
        Show a progress bar over the descriptors.
    """
    sizes, seeds, n_test = _study(sizes, seeds, world_config, n_test, config,
                                  features.DescriptorTrainConfig)
    path = CACHE / f"features-{cache_key(sizes, seeds, world_config, n_test, config)}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
    else:
        runs = [(n, seed) for n in (0,) + sizes for seed in seeds]
        scores = run_parallel(_features_one, [(n, seed, world_config, config, n_test)
                                              for n, seed in runs], progress,
                              "descriptors: sizes x seeds")
        by_run = dict(zip(runs, scores))
        saved = {"learned": {m: [[by_run[n, s][m] for s in seeds] for n in sizes]
                             for m in FEATURE_METRICS},
                 "untrained": {m: [by_run[0, s][m] for s in seeds] for m in FEATURE_METRICS},
                 "sift": pipeline_scores(test_scenes(n_test, world_config))}
        write_atomic(path, lambda target: target.write_text(json.dumps(saved)))
    return FeatureCurve(sizes, seeds, {m: np.array(v) for m, v in saved["learned"].items()},
                        {m: np.array(v) for m, v in saved["untrained"].items()}, saved["sift"])


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
        these do not train, so one score each. "classical" also holds the precision and
        recall of its matches when ``learned_features`` is given.
    world_config : world.WorldConfig
        The world of the training and test scenes.
    n_test : int
        Held-out test scenes.
    config : learned.TrainConfig
        The training recipe (its seed aside).
    learned_features : dict
        The middle road, the pipeline with a learned descriptor (`feature_curve`):
        `FEATURE_METRICS` name to a (sizes, seeds) array; empty when not measured.
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    methods: dict
    world_config: world.WorldConfig
    n_test: int
    config: learned.TrainConfig = SWEEP_CONFIG
    learned_features: dict = dataclasses.field(default_factory=dict)

    #: The sweep's learning curves, by the name `crossover` and the JSON use.
    CURVES = ("learned", "learned_features")

    def model(self, n_scenes: int, seed: int) -> learned.DepthModel:
        """The trained model of one size and seed, from the cache (trained if missing)."""
        return trained_model(n_scenes, seed, self.world_config, self.config, progress=False)

    def crossover(self, metric: str, method: str = "classical",
                  curve: str = "learned") -> np.ndarray:
        """Per seed, the training-set size from which ``curve`` (the learned model, or
        "learned_features") stays better than ``method``: interpolated in log N between the
        two sizes around the crossing. NaN when it is not better at the largest size;
        ``sizes[0]`` when it is better everywhere."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
        if method not in self.methods:
            raise ValueError(f"method must be one of {sorted(self.methods)}, got {method!r}")
        if curve not in self.CURVES or not getattr(self, curve):
            raise ValueError(f"curve must be one of the measured curves "
                             f"{[c for c in self.CURVES if getattr(self, c)]}, got {curve!r}")
        gap = (as_error(metric, getattr(self, curve)[metric])
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
        if self.learned_features:
            out["learned_features"] = {m: np.asarray(v).tolist()
                                       for m, v in self.learned_features.items()}
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


def _use_cache(path):
    """Worker initialiser: a spawned worker caches where its parent does."""
    global CACHE
    CACHE = pathlib.Path(path)


def _train_one(n_scenes, seed, world_config, config, data):
    """Worker: trains (or finds in the cache) one model of a study."""
    torch.set_num_threads(config.threads)
    trained_model(n_scenes, seed, world_config, config, progress=False, data=data)


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


def run_parallel(function, jobs, progress: bool = True, desc: str | None = None) -> list:
    """``[function(*job) for job in jobs]``, on `workers` processes.

    ``function`` must be importable by name (a module-level function), since spawned workers
    look it up; they cache where this process does. Returns the results in the order of
    ``jobs``, with a progress bar over the jobs done.
    """
    jobs = list(jobs)
    workers_ = workers()
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    results = [None] * len(jobs)
    if workers_ == 1:
        for i, job in enumerate(jobs):
            results[i] = function(*job)
            bar.update()
    else:
        # Each worker computes on one core. OpenBLAS (NumPy's and SciPy's linear algebra)
        # would start a thread per core in each of them, and its waiting threads slow the
        # other worker several times over; it reads its thread count when a worker starts.
        blas_threads = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        try:
            # "spawn" starts clean interpreters: forking a process that already runs torch's
            # thread pool can deadlock.
            with concurrent.futures.ProcessPoolExecutor(
                    workers_, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_use_cache, initargs=(str(CACHE),)) as pool:
                futures = {pool.submit(function, *job): i for i, job in enumerate(jobs)}
                for future in concurrent.futures.as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
        finally:
            if blas_threads is None:
                del os.environ["OPENBLAS_NUM_THREADS"]
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = blas_threads
    bar.close()
    return results


def _study(sizes, seeds, world_config, n_test, config, config_type):
    """Checks a study's arguments: training-set sizes (at least 2, increasing), distinct seeds,
    the world, the number of test scenes and a recipe of ``config_type``."""
    sizes = tuple(_checks.integer("sizes", n, 1, 10**6) for n in sizes)
    seeds = tuple(_checks.integer("seeds", s, 0, 2**32 - 1) for s in seeds)
    if len(sizes) < 2 or list(sizes) != sorted(set(sizes)):
        raise ValueError(f"sizes must be at least 2 increasing sizes, got {sizes}")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be at least 1 distinct seed, got {seeds}")
    if not isinstance(world_config, world.WorldConfig):
        raise TypeError(f"world_config must be a WorldConfig, got {type(world_config).__name__}")
    if not isinstance(config, config_type):
        raise TypeError(f"config must be a {config_type.__name__}, got {type(config).__name__}")
    return sizes, seeds, _checks.integer("n_test", n_test, 1, 100_000)


def _train_all(runs, world_config, config, progress, desc="training-set sizes x seeds"):
    """Trains the (size, seed, data) runs of a study into the cache."""
    run_parallel(_train_one, [(n, seed, world_config, config, data) for n, seed, data in runs],
                 progress, desc)


def sweep(sizes=SIZES, seeds=(0, 1, 2), world_config: world.WorldConfig = world.WorldConfig(),
          n_test: int = 200, config: learned.TrainConfig = SWEEP_CONFIG,
          progress: bool = True, with_features: bool = True) -> Sweep:
    """Trains the learned model at every size and seed and scores everything on the same
    ``n_test`` held-out scenes of ``world_config``; cached on disk (see the module notes).
    Training runs on `workers` processes. With ``with_features``, the pipeline with a learned
    descriptor is measured too (`feature_curve`, with its own cache).

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
    with_features : bool
        Also measure the third curve, ``learned_features``.
    """
    sizes, seeds, n_test = _study(sizes, seeds, world_config, n_test, config,
                                  learned.TrainConfig)
    if not isinstance(with_features, bool):
        raise TypeError(f"with_features must be True or False, got {with_features!r}")
    result = _end_to_end(sizes, seeds, world_config, n_test, config, progress)
    if not with_features:
        return result
    curve = feature_curve(sizes, seeds, world_config, n_test, FEATURE_CONFIG, progress)
    methods = {**result.methods, "classical": {**result.methods["classical"],
                                               "precision": curve.sift["precision"],
                                               "recall": curve.sift["recall"]}}
    return dataclasses.replace(result, methods=methods, learned_features=curve.learned)


def _end_to_end(sizes, seeds, world_config, n_test, config, progress):
    """The sweep of the end-to-end model, against the methods that do not train."""
    path = CACHE / f"sweep-{cache_key(sizes, seeds, world_config, n_test, config)}.json"
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
    runs = [(n, seed, learned.DataConfig()) for n in sizes for seed in seeds]
    _train_all(runs, world_config, config, progress)
    scores = {m: np.zeros((len(sizes), len(seeds))) for m in METRICS}
    for i, n in enumerate(sizes):
        for j, seed in enumerate(seeds):
            model = trained_model(n, seed, world_config, config, progress=False)
            depth = learned.predict_batch(model, scenes.frame0, scenes.frame1)
            for metric, value in _score(depth, scenes).items():
                scores[metric][i, j] = value
    write_atomic(path, lambda target: target.write_text(json.dumps(
        {"learned": {m: v.tolist() for m, v in scores.items()}, "methods": methods})))
    return Sweep(sizes, seeds, scores, methods, world_config, n_test, config)


#: The data study's nominal training-set size, a size of the sweep.
DATA_NOMINAL = SIZES[5]

#: The data study's unique-scene counts: smaller sizes of the sweep, so that the model trained
#: on those scenes alone is a model of the sweep. Each is filled up to `DATA_NOMINAL` items.
DATA_UNIQUE = (SIZES[4], SIZES[3], SIZES[1])

#: The data study's shares of wrong labels, in training sets of `DATA_NOMINAL` scenes.
LABEL_NOISE = (0.2, 0.5)

#: How the data study fills a training set from fewer unique scenes.
FILLS = {"copies": learned.DataConfig, "augmented": functools.partial(learned.DataConfig,
                                                                        augment=True)}


@dataclasses.dataclass(frozen=True)
class DataStudy:
    """Training sets of one nominal size, made of fewer unique scenes or with wrong labels.

    Attributes
    ----------
    sweep : Sweep
        The learned model on unique scenes at every size, and the fixed methods.
    nominal : int
        Items in every filled or noisy training set (a size of the sweep).
    unique : tuple of int
        Unique scenes in the filled training sets.
    filled : dict
        Fill ("copies", "augmented") to metric to a (unique, seeds) array of test scores.
    flipped : dict
        Metric to (seeds,) test scores of the `nominal` unique scenes, each in its four
        flips (``4 * nominal`` items): augmentation on top of all the data.
    label_noise : tuple of float
        Shares of wrong labels in training sets of `nominal` unique scenes.
    noisy : dict
        Metric to a (label_noise, seeds) array of test scores.
    """

    sweep: Sweep
    nominal: int
    unique: tuple
    filled: dict
    flipped: dict
    label_noise: tuple
    noisy: dict

    @property
    def copies(self) -> np.ndarray:
        """How many times, on average, each unique scene appears: ``nominal / unique``."""
        return self.nominal / np.asarray(self.unique, float)

    def alone(self, metric: str) -> np.ndarray:
        """(unique, seeds) test scores of the models trained on the unique scenes alone."""
        return self.sweep.learned[metric][[self.sweep.sizes.index(n) for n in self.unique]]

    def full(self, metric: str) -> np.ndarray:
        """(seeds,) test scores of the models trained on `nominal` unique scenes."""
        return self.sweep.learned[metric][self.sweep.sizes.index(self.nominal)]

    def to_json(self) -> dict:
        """The command line's JSON: per variant, per unique count, the per-seed scores."""
        variants = {"unique_nominal": {m: [self.full(m).tolist()] * len(self.unique)
                                       for m in METRICS},
                    "unique_alone": {m: self.alone(m).tolist() for m in METRICS}}
        variants.update({fill: {m: np.asarray(v).tolist() for m, v in scores.items()}
                         for fill, scores in self.filled.items()})
        return {"nominal": self.nominal, "seeds": list(self.sweep.seeds),
                "n_test": self.sweep.n_test, "unique": list(self.unique),
                "k": [round(float(k), 3) for k in self.copies], "variants": variants,
                "nominal_flipped": {m: np.asarray(v).tolist() for m, v in self.flipped.items()},
                "label_noise": {"rates": list(self.label_noise),
                                **{m: np.asarray(v).tolist() for m, v in self.noisy.items()}}}


def data_study(seeds=(0, 1, 2), nominal=DATA_NOMINAL, unique=DATA_UNIQUE,
               label_noise=LABEL_NOISE, sizes=SIZES, n_test: int = 200,
               config: learned.TrainConfig = SWEEP_CONFIG, progress: bool = True) -> DataStudy:
    """What a training set of ``nominal`` items is worth when it is made of fewer unique
    scenes (copied, or augmented, up to its size) or has a share of wrong labels.

    Every model trains with the sweep's recipe and is scored on the sweep's test scenes, so
    the sweep's own models (`sweep` with ``sizes`` and ``seeds``) are the references; they are
    trained first if they are not cached. Results are cached on disk like the sweep's.

    Parameters
    ----------
    seeds : sequence of int
    nominal : int
        Items in each training set, one of ``sizes``.
    unique : sequence of int
        Unique-scene counts, each one of ``sizes`` below ``nominal``.
    label_noise : sequence of float
        Shares of wrong labels, each in (0, 1].
    sizes : sequence of int
        The sweep's sizes.
    n_test : int
    config : learned.TrainConfig
    progress : bool
    """
    sizes = tuple(sizes)
    if nominal not in sizes:
        raise ValueError(f"nominal must be one of the sweep's sizes {sizes}, got {nominal!r}")
    unique = tuple(_checks.integer("unique", n, 1, 10**6) for n in unique)
    if not unique or any(n not in sizes or n >= nominal for n in unique):
        raise ValueError(f"unique must be sizes of the sweep below nominal ({nominal}), of "
                         f"{sizes}, got {unique}")
    label_noise = tuple(_checks.number("label_noise", r, 0.0, 1.0) for r in label_noise)
    if 0.0 in label_noise:
        raise ValueError("label_noise rates must be above 0 (the sweep is the clean case)")
    result = sweep(sizes, seeds, n_test=n_test, config=config, progress=progress)
    seeds = result.seeds
    key = cache_key(result.sizes, nominal, unique, label_noise, seeds, n_test, config)
    path = CACHE / f"data-{key}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        return DataStudy(result, nominal, unique,
                         {f: {m: np.array(v) for m, v in saved["filled"][f].items()}
                          for f in FILLS},
                         {m: np.array(v) for m, v in saved["flipped"].items()},
                         label_noise, {m: np.array(v) for m, v in saved["noisy"].items()})
    # (name, items, how the items are made)
    sets = [((fill, n), nominal, make(unique=n)) for fill, make in FILLS.items() for n in unique]
    sets.append((("flipped",), 4 * nominal, learned.DataConfig(unique=nominal, augment=True)))
    sets += [(("label_noise", r), nominal, learned.DataConfig(label_noise=r))
             for r in label_noise]
    _train_all([(items, seed, data) for _, items, data in sets for seed in seeds],
               result.world_config, config, progress, desc="training sets x seeds")
    scenes = test_scenes(n_test, result.world_config)
    scores = {}
    for name, items, data in sets:
        for seed in seeds:
            model = trained_model(items, seed, result.world_config, config, False, data)
            scores[name, seed] = _score(learned.predict_batch(model, scenes.frame0,
                                                              scenes.frame1), scenes)
    filled = {f: {m: np.array([[scores[(f, n), s][m] for s in seeds] for n in unique])
                  for m in METRICS} for f in FILLS}
    flipped = {m: np.array([scores[("flipped",), s][m] for s in seeds]) for m in METRICS}
    noisy = {m: np.array([[scores[("label_noise", r), s][m] for s in seeds]
                          for r in label_noise]) for m in METRICS}
    write_atomic(path, lambda target: target.write_text(json.dumps(
        {"filled": {f: {m: v.tolist() for m, v in d.items()} for f, d in filled.items()},
         "flipped": {m: v.tolist() for m, v in flipped.items()},
         "noisy": {m: v.tolist() for m, v in noisy.items()}})))
    return DataStudy(result, nominal, unique, filled, flipped, label_noise, noisy)


@dataclasses.dataclass(frozen=True)
class CostModel:
    """An explicit price list for depth from two frames (in any currency; the defaults are
    illustrations, not measurements).

    Parameters
    ----------
    collect : float
        Cost of capturing one scene (two frames).
    label : float
        Cost of one scene's dense depth label.
    engineering : float
        One-off cost of writing and tuning the classical pipeline, which needs no labels.
    """

    collect: float = 0.5
    label: float = 4.0
    engineering: float = 5000.0

    def __post_init__(self):
        for name in ("collect", "label", "engineering"):
            _checks.number(name, getattr(self, name), 0.0)
        if self.per_scene <= 0:
            raise ValueError("collect + label must be above 0: a labelled scene is not free")

    @property
    def per_scene(self) -> float:
        """Cost of one labelled training scene."""
        return self.collect + self.label

    def learned_cost(self, n_scenes):
        """Cost of ``n_scenes`` labelled scenes (copies and augmentations cost nothing)."""
        return np.asarray(n_scenes, float) * self.per_scene

    def scenes(self, budget):
        """Labelled scenes a budget buys."""
        return np.asarray(budget, float) / self.per_scene


def _print_crossover(result):
    """The crossover command's text output, from its JSON."""
    for metric in METRICS:
        print(f"{metric}: classical {result['classical'][metric][0][0]:.3f}")
        for n, row in zip(result["sizes"], result["learned"][metric]):
            print(f"  learned, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))
        if "learned_features" in result:
            for n, row in zip(result["sizes"], result["learned_features"][metric]):
                print(f"  learned features, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))
        print(f"  crossover N: {result['crossover_n'][metric]}")


def _print_features(result):
    """The features command's text output, from its JSON."""
    for metric in FEATURE_METRICS:
        print(f"{metric}: SIFT's descriptor {result['sift'][metric]:.3f}, untrained "
              + " ".join(f"{v:.3f}" for v in result["untrained"][metric]))
        for n, row in zip(result["sizes"], result["learned_features"][metric]):
            print(f"  learned features, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))


def _print_data(result):
    """The duplicates command's text output, from its JSON."""
    for metric in METRICS:
        print(f"{metric}, {result['nominal']} items made of U unique scenes (seeds):")
        for i, (n, k) in enumerate(zip(result["unique"], result["k"])):
            print(f"  U = {n:>4} (k = {k:.1f}): " + ", ".join(
                f"{name} " + " ".join(f"{v:.3f}" for v in scores[metric][i])
                for name, scores in result["variants"].items()))
        print(f"  {result['nominal']} scenes in their four flips: "
              + " ".join(f"{v:.3f}" for v in result["nominal_flipped"][metric]))
        for rate, row in zip(result["label_noise"]["rates"], result["label_noise"][metric]):
            print(f"  {rate:.0%} wrong labels: " + " ".join(f"{v:.3f}" for v in row))


def main(argv=None) -> int:
    """The command line: ``classical --scenes N [--json]``, ``learned --scenes N --seed K
    [--json]``, ``features [--json]``, ``crossover [--json]`` or ``duplicates [--json]``."""
    parser = argparse.ArgumentParser(prog="python -m depthlab.experiments",
                                     description="Run one of the book's studies.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("classical", help="the classical pipeline on held-out scenes")
    run.add_argument("--scenes", type=int, default=200, help="number of held-out scenes")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    one = commands.add_parser("learned", help="train the learned model (cached) and score it on "
                              "the held-out scenes")
    one.add_argument("--scenes", type=int, default=SIZES[-1], help="number of training scenes")
    one.add_argument("--seed", type=int, default=0, help="the training seed")
    one.add_argument("--test", type=int, default=200, help="number of held-out scenes")
    one.add_argument("--json", action="store_true", help="print one JSON object")
    feats = commands.add_parser("features", help="the pipeline with a learned descriptor at the "
                                "sweep's sizes and seeds (cached; cold, about 2 minutes)")
    feats.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS - 1")
    feats.add_argument("--json", action="store_true", help="print one JSON object")
    cross = commands.add_parser("crossover", help="the learned model's learning curve against "
                                "the classical pipeline (cached; cold, about 10 minutes)")
    cross.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS - 1")
    cross.add_argument("--json", action="store_true", help="print one JSON object")
    dup = commands.add_parser("duplicates", help="training sets of copied, augmented or "
                              "wrongly labelled scenes (cached; runs the crossover first)")
    dup.add_argument("--seeds", type=int, default=3, help="seeds 0 .. SEEDS - 1")
    dup.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    studies = {"features": (feature_curve, _print_features), "crossover": (sweep, _print_crossover),
               "duplicates": (data_study, _print_data)}
    if args.command in studies:
        if args.seeds < 1:
            parser.error("--seeds must be at least 1")
        study, show = studies[args.command]
        result = study(seeds=range(args.seeds), progress=not args.json).to_json()
        if args.json:
            print(json.dumps(result))
        else:
            show(result)
        return 0
    if args.scenes < 1:
        parser.error("--scenes must be at least 1")
    if args.command == "learned":
        model = trained_model(args.scenes, args.seed, progress=not args.json)
        scores = metrics.mean_metrics(learned.evaluate(model, test_scenes(args.test)))
        summary = {"n_scenes": args.scenes, "seed": args.seed, "n_test": args.test,
                   **{m: float(getattr(scores, m)) for m in METRICS}}
    else:
        summary = evaluate_classical(test_scenes(args.scenes), progress=not args.json).summary()
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
