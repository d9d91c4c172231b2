"""The book's studies: each one a set of independent jobs that `depthlab.parallel` runs, with
its results kept in the disk cache (`depthlab.cache`).

- `sweep`: the learned model at every training-set size and seed, against the methods that do
  not train; with `feature_curve`, the pipeline with a learned descriptor.
- `data_study`: training sets filled with copies or augmentations, or with wrong labels.
- `throughput`: the same jobs on 1 and 2 local workers, to measure how the studies scale.

A job runs on a worker and returns its result (a trained model as bytes, scores as numbers);
this process writes the cache, and a job whose result is cached is not submitted at all.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import time

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _checks, cache, classical, features, learned, metrics, parallel, world
from .curves import METRICS, as_error, crossing, fit_power_law

__all__ = ["DATA_NOMINAL", "DATA_UNIQUE", "FEATURE_CONFIG", "FEATURE_METRICS", "FILLS",
           "LABEL_NOISE", "SIZES", "SWEEP_CONFIG", "ClassicalEvaluation", "DataStudy",
           "FeatureCurve", "Sweep", "Throughput", "data_study", "evaluate_classical",
           "feature_curve", "pipeline_scores", "sweep", "test_scenes", "throughput",
           "train_models", "trained_descriptor", "trained_model"]

#: The sweep's training-set sizes: 8 sizes, log-spaced from 16 to 4096 scenes.
SIZES = tuple(int(round(16 * 256 ** (k / 7))) for k in range(8))

#: The sweep's training recipe: `learned.TrainConfig` on one thread, so that two models train
#: side by side on two cores and the result does not depend on how many run at once.
SWEEP_CONFIG = learned.TrainConfig(threads=1)

#: The learned descriptor's training recipe in the sweep, on one thread like `SWEEP_CONFIG`.
FEATURE_CONFIG = features.DescriptorTrainConfig()

#: What the pipeline with a learned descriptor records: the depth metrics, and the precision
#: and recall of its ratio-test matches (`features.matching_quality`); all larger-is-better
#: except AbsRel.
FEATURE_METRICS = {**METRICS, "precision": True, "recall": True}


def test_scenes(n_scenes: int, config: world.WorldConfig = world.WorldConfig()) -> world.Scene:
    """The first ``n_scenes`` held-out scenes (seed `world.HELD_OUT_SEED`), as one batch.

    Parameters
    ----------
    n_scenes : int
        Number of scenes, from 1 to 100000.
    config : world.WorldConfig
        The world the scenes are rendered in.

    Returns
    -------
    world.Scene
        A batch of ``n_scenes`` scenes, as `world.render_scenes` makes it.
    """
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


def evaluate_classical(scenes: world.Scene, *, progress: bool = True,
                       **params) -> ClassicalEvaluation:
    """Runs the classical pipeline on every scene of a batch and scores it.

    The pipeline's depth maps, reliability flags and timings are kept in the disk cache
    (`depthlab.cache`), named by the frames, ``params`` and the source of the modules that make
    the numbers, so a chapter run again reads them instead of running the pipeline again.

    Parameters
    ----------
    scenes : world.Scene
        A batch from `world.render_scenes` (or `test_scenes`).
    progress : bool
        Show a progress bar.
    **params
        Passed to `classical.run_pipeline`; JSON values (a learned ``descriptor`` is not one:
        `pipeline_scores` runs the pipeline with one).

    Returns
    -------
    ClassicalEvaluation
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    try:
        key = cache.cache_key("classical", cache.array_digest(scenes.frame0, scenes.frame1),
                              params)
    except TypeError as error:
        raise TypeError(f"the pipeline's params must be JSON values, got {params!r}") from error
    path = cache.directory() / f"classical-{key}.npz"
    if path.is_file():
        with np.load(path) as saved:
            depth, reliable, seconds = saved["depth"], saved["reliable"], saved["seconds"]
    else:
        classical.run_pipeline(scenes[0].frame0, scenes[0].frame1, **params)  # warm-up
        depth, reliable, seconds = [], [], []
        for i in tqdm(range(len(scenes)), desc="classical pipeline", disable=not progress):
            start = time.perf_counter()
            result = classical.run_pipeline(scenes.frame0[i], scenes.frame1[i], **params)
            seconds.append(time.perf_counter() - start)
            depth.append(result.depth)
            reliable.append(result.reliable)
        depth, reliable, seconds = np.stack(depth), np.array(reliable), np.array(seconds)
        buffer = io.BytesIO()
        np.savez(buffer, depth=depth, reliable=reliable, seconds=seconds)
        cache.write_bytes(path, buffer.getvalue())
    constant = np.ones_like(scenes.depth[0])
    return ClassicalEvaluation(
        [metrics.depth_metrics(depth[i], scenes.depth[i]) for i in range(len(scenes))],
        [metrics.depth_metrics(constant, scenes.depth[i]) for i in range(len(scenes))],
        depth, reliable, seconds)


def _model_path(n_scenes, seed, world_config, config, data):
    """Where the model of one training run is cached, after checking the run's arguments;
    also returns the recipe with its seed."""
    if not isinstance(config, learned.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    if not isinstance(data, learned.DataConfig):
        raise TypeError(f"data must be a DataConfig, got {type(data).__name__}")
    if not isinstance(world_config, world.WorldConfig):
        raise TypeError(f"world_config must be a WorldConfig, got {type(world_config).__name__}")
    config = dataclasses.replace(config, seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    key = cache.cache_key(n_scenes, config, learned.ModelConfig(), world_config, data)
    return cache.directory() / f"model-{key}.pt", config


def trained_model(n_scenes: int, *, seed: int = 0,
                  world_config: world.WorldConfig = world.WorldConfig(),
                  config: learned.TrainConfig = learned.TrainConfig(),
                  progress: bool = True,
                  data: learned.DataConfig = learned.DataConfig()) -> learned.DepthModel:
    """`learned.train` on ``n_scenes`` items (made as ``data`` says) with ``seed``, in this
    process, through the disk cache (`train_models` trains many on the workers).

    Parameters
    ----------
    n_scenes : int
        Training items.
    seed : int
        The training seed; it replaces the seed of ``config``.
    world_config : world.WorldConfig
        The world of the training scenes.
    config : learned.TrainConfig
        The training recipe.
    progress : bool
        Show a progress bar while training (when the model is not cached).
    data : learned.DataConfig
        How the training items are made.

    Returns
    -------
    learned.DepthModel
        The trained model, read from the cache when it is there.
    """
    path, config = _model_path(n_scenes, seed, world_config, config, data)
    if path.is_file():
        return learned.load(path)
    model = learned.train(n_scenes, config=config, world_config=world_config, progress=progress,
                          data=data)
    cache.write_atomic(path, lambda target: learned.save(model, target))
    return model


def _train_job(n_scenes, world_config, config, data):
    """Worker: trains one model on one core and returns it as bytes (`learned.save`)."""
    model = learned.train(n_scenes, config=config, world_config=world_config, progress=False,
                          data=data)
    return cache.to_bytes(learned.save, model)


def train_models(runs, *, world_config: world.WorldConfig = world.WorldConfig(),
                 config: learned.TrainConfig = learned.TrainConfig(), progress: bool = True,
                 desc: str = "training-set sizes x seeds") -> list:
    """Trains the models of ``runs`` that are not cached yet on the workers
    (`depthlab.parallel`) and caches them.

    Parameters
    ----------
    runs : iterable of (int, int, learned.DataConfig)
        Training items, seed, and how the items are made.
    world_config : world.WorldConfig
    config : learned.TrainConfig
        The recipe; its seed is replaced by each run's.
    progress : bool
        Show a progress bar over the models trained.
    desc : str
        The progress bar's title.

    Returns
    -------
    list of parallel.Task
        Where and when each model trained (empty when every one was cached).
    """
    todo = {}
    # The largest training sets take longest: submitted first, they do not end the study alone.
    for n_scenes, seed, data in sorted(runs, key=lambda run: -run[0]):
        path, recipe = _model_path(n_scenes, seed, world_config, config, data)
        if not path.is_file():
            todo[path] = ((n_scenes, world_config, recipe, data), f"N = {n_scenes}, seed {seed}")
    paths = list(todo)
    _, tasks = parallel.run(_train_job, [job for job, _ in todo.values()],
                            labels=[label for _, label in todo.values()], desc=desc,
                            progress=progress, keep=lambda i, data: cache.write_bytes(paths[i],
                                                                                     data))
    return tasks


def _descriptor_path(n_scenes, seed, world_config, config):
    if not isinstance(config, features.DescriptorTrainConfig):
        raise TypeError(f"config must be a DescriptorTrainConfig, got {type(config).__name__}")
    config = dataclasses.replace(config, seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    n_scenes = _checks.integer("n_scenes", n_scenes, 0, 10**6)
    key = cache.cache_key(n_scenes, config, world_config)
    return cache.directory() / f"descriptor-{key}.pt", config


def trained_descriptor(n_scenes: int, *, seed: int = 0,
                       world_config: world.WorldConfig = world.WorldConfig(),
                       config: features.DescriptorTrainConfig = FEATURE_CONFIG,
                       progress: bool = True) -> features.LearnedDescriptor:
    """`features.train` on the first ``n_scenes`` training scenes with ``seed``, through the
    disk cache; ``n_scenes = 0`` gives `features.untrained`.

    Parameters
    ----------
    n_scenes : int
        Training scenes, 0 for random weights.
    seed : int
        The training seed; it replaces the seed of ``config``.
    world_config : world.WorldConfig
        The world of the training scenes.
    config : features.DescriptorTrainConfig
        The training recipe.
    progress : bool
        Show a progress bar while training (when the descriptor is not cached).

    Returns
    -------
    features.LearnedDescriptor
        The trained descriptor, read from the cache when it is there.
    """
    path, config = _descriptor_path(n_scenes, seed, world_config, config)
    if n_scenes == 0:
        return features.untrained(seed=config.seed)
    if path.is_file():
        return features.load(path)
    descriptor = features.train(n_scenes, config=config, world_config=world_config, progress=progress)
    cache.write_atomic(path, lambda target: features.save(descriptor, target))
    return descriptor


def _pipeline_scores(scenes, descriptor=None, **params) -> dict:
    """`pipeline_scores` without the cache: what a worker computes."""
    quality, depth = features.MatchingQuality(0, 0, 0), []
    for i in range(len(scenes)):
        result = classical.run_pipeline(scenes.frame0[i], scenes.frame1[i],
                                        descriptor=descriptor, **params)
        quality += features.matching_quality(result, scenes[i])
        depth.append(result.depth)
    return {**_score(depth, scenes), "precision": quality.precision, "recall": quality.recall}


def pipeline_scores(scenes: world.Scene, descriptor=None, **params) -> dict:
    """The classical pipeline on every scene of a batch, with SIFT's descriptor or
    ``descriptor``: mean AbsRel and δ1, and the pooled precision and recall of the ratio-test
    matches (`features.matching_quality`).

    The scores are kept in the disk cache (`depthlab.cache`), named by the scenes, the
    descriptor's configuration and weights, ``params`` and the source of the modules that make
    the numbers.

    Parameters
    ----------
    scenes : world.Scene
        A batch from `world.render_scenes`.
    descriptor : features.LearnedDescriptor, optional
        None for SIFT's own descriptor.
    **params
        Passed to `classical.run_pipeline` (JSON values, e.g. ``ratio``).

    Returns
    -------
    dict
        `FEATURE_METRICS` name to a float: the mean ``absrel`` and ``delta1`` over the scenes,
        and the ``precision`` and ``recall`` pooled over them.
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    if descriptor is not None and not isinstance(descriptor, features.LearnedDescriptor):
        raise TypeError(f"descriptor must be None or a features.LearnedDescriptor, got "
                        f"{type(descriptor).__name__}")
    weights = () if descriptor is None else tuple(
        t.detach().numpy() for t in descriptor.net.state_dict().values())
    truth = (scenes.depth, scenes.flow, scenes.visible)
    try:
        key = cache.cache_key(
            "pipeline", cache.array_digest(scenes.frame0, scenes.frame1, *truth, *weights),
            None if descriptor is None else descriptor.config, params)
    except TypeError as error:
        raise TypeError(f"the pipeline's params must be JSON values, got {params!r}") from error
    path = cache.directory() / f"pipeline-{key}.json"
    if not path.is_file():
        scores = _pipeline_scores(scenes, descriptor, **params)
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(scores)))
    return json.loads(path.read_text())


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
    tasks : tuple of parallel.Task
        Where and when each descriptor was trained and scored, when the curve was computed.
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    untrained: dict
    sift: dict
    tasks: tuple = ()

    def to_json(self) -> dict:
        """The command line's JSON: (sizes, seeds) arrays of the learned descriptor, (seeds,)
        arrays of the untrained one, and SIFT's scores."""
        return {"sizes": list(self.sizes), "seeds": list(self.seeds),
                "learned_features": {m: np.asarray(v).tolist() for m, v in self.learned.items()},
                "untrained": {m: np.asarray(v).tolist() for m, v in self.untrained.items()},
                "sift": dict(self.sift)}


def _features_job(n_scenes, world_config, config, n_test, saved):
    """Worker: on one core, trains one descriptor (or reads it from ``saved`` bytes; random
    weights for 0 scenes) and scores the pipeline that uses it on the test scenes. Returns
    the descriptor as bytes (None if it was given or untrained) and the scores."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    made = None
    if n_scenes == 0:
        descriptor = features.untrained(seed=config.seed)
    elif saved is not None:
        descriptor = cache.from_bytes(features.load, saved)
    else:
        descriptor = features.train(n_scenes, config=config, world_config=world_config, progress=False)
        made = cache.to_bytes(features.save, descriptor)
    return made, _pipeline_scores(test_scenes(n_test, world_config), descriptor)


def feature_curve(*, sizes=SIZES, seeds=(0, 1, 2),
                  world_config: world.WorldConfig = world.WorldConfig(), n_test: int = 200,
                  config: features.DescriptorTrainConfig = FEATURE_CONFIG,
                  progress: bool = True) -> FeatureCurve:
    """Trains the learned descriptor at every size and seed and scores the pipeline that uses
    it on the sweep's held-out scenes; cached on disk. Each descriptor trains and is scored
    on a worker (`depthlab.parallel`).

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing, at least 2.
    seeds : sequence of int
        Training seeds, distinct, at least 1.
    world_config : world.WorldConfig
        The world of the training and test scenes.
    n_test : int
        Held-out test scenes (`test_scenes`).
    config : features.DescriptorTrainConfig
        The recipe; its seed is replaced by each of ``seeds``.
    progress : bool
        Show a progress bar over the descriptors.

    Returns
    -------
    FeatureCurve
        The trained, the untrained and SIFT's descriptors' test scores (see `FeatureCurve`).
    """
    sizes, seeds, n_test = _study(sizes, seeds, world_config, n_test, config,
                                  features.DescriptorTrainConfig)
    path = cache.directory() / (
        f"features-{cache.cache_key(sizes, seeds, world_config, n_test, config)}.json")
    if not path.is_file():
        runs = [(n, seed) for n in sizes[::-1] + (0,) for seed in seeds]  # the longest first
        jobs = []
        for n, seed in runs:
            where, recipe = _descriptor_path(n, seed, world_config, config)
            jobs.append((n, world_config, recipe, n_test,
                         where.read_bytes() if n and where.is_file() else None))
        def keep(i, result):  # the descriptor, as soon as it is trained
            if result[0] is not None:
                cache.write_bytes(_descriptor_path(*runs[i], world_config, config)[0], result[0])

        results, tasks = parallel.run(_features_job, jobs, desc="descriptors: sizes x seeds",
                                      labels=[f"N = {n}, seed {s}" for n, s in runs],
                                      progress=progress, keep=keep)
        by_run = {run: scores for run, (_, scores) in zip(runs, results)}
        saved = {"learned": {m: [[by_run[n, s][m] for s in seeds] for n in sizes]
                             for m in FEATURE_METRICS},
                 "untrained": {m: [by_run[0, s][m] for s in seeds] for m in FEATURE_METRICS},
                 "sift": pipeline_scores(test_scenes(n_test, world_config)),
                 "tasks": [dataclasses.asdict(t) for t in tasks]}
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(saved)))
    saved = json.loads(path.read_text())
    return FeatureCurve(sizes, seeds, {m: np.array(v) for m, v in saved["learned"].items()},
                        {m: np.array(v) for m, v in saved["untrained"].items()}, saved["sift"],
                        tuple(parallel.Task(**t) for t in saved.get("tasks", ())))


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
    tasks : tuple of parallel.Task
        Where and when each model of the sweep was trained, when the sweep was computed
        (models that an earlier study had cached are not among them).
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    methods: dict
    world_config: world.WorldConfig
    n_test: int
    config: learned.TrainConfig = SWEEP_CONFIG
    learned_features: dict = dataclasses.field(default_factory=dict)
    tasks: tuple = ()

    #: The sweep's learning curves, by the name `crossover` and the JSON use.
    CURVES = ("learned", "learned_features")

    def model(self, n_scenes: int, seed: int) -> learned.DepthModel:
        """The trained model of one size and seed, from the cache (trained if missing)."""
        return trained_model(n_scenes, seed=seed, world_config=self.world_config, config=self.config, progress=False)

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
        return crossing(self.sizes, as_error(metric, getattr(self, curve)[metric])
                        - as_error(metric, self.methods[method][metric]))

    def power_law(self, metric: str):
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


def sweep(*, sizes=SIZES, seeds=(0, 1, 2), world_config: world.WorldConfig = world.WorldConfig(),
          n_test: int = 200, config: learned.TrainConfig = SWEEP_CONFIG,
          progress: bool = True, with_features: bool = True) -> Sweep:
    """Trains the learned model at every size and seed and scores everything on the same
    ``n_test`` held-out scenes of ``world_config``; cached on disk (see the module notes).
    The models train on the workers (`depthlab.parallel`). With ``with_features``, the
    pipeline with a learned descriptor is measured too (`feature_curve`, with its own cache).

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing, at least 2.
    seeds : sequence of int
        Training seeds, at least 1.
    world_config : world.WorldConfig
        The world of the training and test scenes.
    n_test : int
        Held-out test scenes (`test_scenes`).
    config : learned.TrainConfig
        The training recipe; its seed is replaced by each of ``seeds``.
    progress : bool
        Show a progress bar over the models.
    with_features : bool
        Also measure the third curve, ``learned_features``.

    Returns
    -------
    Sweep
        The learned model's test scores per size and seed, and the fixed methods' (see
        `Sweep`); ``learned_features`` is empty without ``with_features``.
    """
    sizes, seeds, n_test = _study(sizes, seeds, world_config, n_test, config,
                                  learned.TrainConfig)
    if not isinstance(with_features, bool):
        raise TypeError(f"with_features must be True or False, got {with_features!r}")
    result = _end_to_end(sizes, seeds, world_config, n_test, config, progress)
    if not with_features:
        return result
    curve = feature_curve(sizes=sizes, seeds=seeds, world_config=world_config, n_test=n_test, config=FEATURE_CONFIG, progress=progress)
    methods = {**result.methods, "classical": {**result.methods["classical"],
                                               "precision": curve.sift["precision"],
                                               "recall": curve.sift["recall"]}}
    return dataclasses.replace(result, methods=methods, learned_features=curve.learned)


def _end_to_end(sizes, seeds, world_config, n_test, config, progress):
    """The sweep of the end-to-end model, against the methods that do not train."""
    key = cache.cache_key(sizes, seeds, world_config, n_test, config)
    path = cache.directory() / f"sweep-{key}.json"
    if not path.is_file():
        scenes = test_scenes(n_test, world_config)
        pipeline = evaluate_classical(scenes, progress=False)
        methods = {"classical": _score(pipeline.depth, scenes),
                   "motion_stereo": _score([classical.motion_stereo(scenes.frame0[i],
                                                                    scenes.frame1[i])
                                            for i in range(n_test)], scenes),
                   "constant": _score(np.ones_like(scenes.depth), scenes)}
        tasks = train_models([(n, seed, learned.DataConfig()) for n in sizes for seed in seeds],
                             world_config=world_config, config=config, progress=progress)
        scores = {m: np.zeros((len(sizes), len(seeds))) for m in METRICS}
        for i, n in enumerate(sizes):
            for j, seed in enumerate(seeds):
                model = trained_model(n, seed=seed, world_config=world_config, config=config, progress=False)
                depth = learned.predict_batch(model, scenes.frame0, scenes.frame1)
                for metric, value in _score(depth, scenes).items():
                    scores[metric][i, j] = value
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(
            {"learned": {m: v.tolist() for m, v in scores.items()}, "methods": methods,
             "tasks": [dataclasses.asdict(t) for t in tasks]})))
    saved = json.loads(path.read_text())
    return Sweep(sizes, seeds, {m: np.array(v) for m, v in saved["learned"].items()},
                 saved["methods"], world_config, n_test, config,
                 tasks=tuple(parallel.Task(**t) for t in saved.get("tasks", ())))


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
    tasks : tuple of parallel.Task
        Where and when each of the study's own models was trained, when it was computed.
    """

    sweep: Sweep
    nominal: int
    unique: tuple
    filled: dict
    flipped: dict
    label_noise: tuple
    noisy: dict
    tasks: tuple = ()

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


def data_study(*, seeds=(0, 1, 2), nominal=DATA_NOMINAL, unique=DATA_UNIQUE,
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
        Training seeds.
    nominal : int
        Items in each training set, one of ``sizes``.
    unique : sequence of int
        Unique-scene counts, each one of ``sizes`` below ``nominal``.
    label_noise : sequence of float
        Shares of wrong labels, each in (0, 1].
    sizes : sequence of int
        The sweep's sizes.
    n_test : int
        Held-out test scenes (`test_scenes`).
    config : learned.TrainConfig
        The training recipe of every model; its seed is replaced by each of ``seeds``.
    progress : bool
        Show progress bars over the models.

    Returns
    -------
    DataStudy
        The test scores of every training set, with the sweep as reference (see `DataStudy`).
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
    result = sweep(sizes=sizes, seeds=seeds, n_test=n_test, config=config, progress=progress)
    seeds = result.seeds
    key = cache.cache_key(result.sizes, nominal, unique, label_noise, seeds, n_test, config)
    path = cache.directory() / f"data-{key}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        return DataStudy(result, nominal, unique,
                         {f: {m: np.array(v) for m, v in saved["filled"][f].items()}
                          for f in FILLS},
                         {m: np.array(v) for m, v in saved["flipped"].items()},
                         label_noise, {m: np.array(v) for m, v in saved["noisy"].items()},
                         tuple(parallel.Task(**t) for t in saved.get("tasks", ())))
    # (name, items, how the items are made)
    sets = [((fill, n), nominal, make(unique=n)) for fill, make in FILLS.items() for n in unique]
    sets.append((("flipped",), 4 * nominal, learned.DataConfig(unique=nominal, augment=True)))
    sets += [(("label_noise", r), nominal, learned.DataConfig(label_noise=r))
             for r in label_noise]
    tasks = train_models([(items, seed, data) for _, items, data in sets for seed in seeds],
                         world_config=result.world_config, config=config, progress=progress, desc="training sets x seeds")
    scenes = test_scenes(n_test, result.world_config)
    scores = {}
    for name, items, data in sets:
        for seed in seeds:
            model = trained_model(items, seed=seed, world_config=result.world_config, config=config, progress=False, data=data)
            scores[name, seed] = _score(learned.predict_batch(model, scenes.frame0,
                                                              scenes.frame1), scenes)
    filled = {f: {m: np.array([[scores[(f, n), s][m] for s in seeds] for n in unique])
                  for m in METRICS} for f in FILLS}
    flipped = {m: np.array([scores[("flipped",), s][m] for s in seeds]) for m in METRICS}
    noisy = {m: np.array([[scores[("label_noise", r), s][m] for s in seeds]
                          for r in label_noise]) for m in METRICS}
    cache.write_atomic(path, lambda target: target.write_text(json.dumps(
        {"filled": {f: {m: v.tolist() for m, v in d.items()} for f, d in filled.items()},
         "flipped": {m: v.tolist() for m, v in flipped.items()},
         "noisy": {m: v.tolist() for m, v in noisy.items()},
         "tasks": [dataclasses.asdict(t) for t in tasks]})))
    return DataStudy(result, nominal, unique, filled, flipped, label_noise, noisy,
                     tuple(tasks))




@dataclasses.dataclass(frozen=True)
class Throughput:
    """The same training jobs on local clusters of several sizes.

    Attributes
    ----------
    workers : tuple of int
        Worker processes of each cluster.
    seconds : tuple of float
        Wall time of all the jobs on each cluster, from the first submission to the last
        result (the workers started and their imports done beforehand).
    tasks : tuple of tuple of parallel.Task
        Every job's own run on each cluster.
    n_scenes, steps : int
        Each job trains a model on ``n_scenes`` scenes for ``steps`` steps (the sweep's recipe
        otherwise), with a seed of its own.
    """

    workers: tuple
    seconds: tuple
    tasks: tuple
    n_scenes: int
    steps: int

    def speedup(self) -> np.ndarray:
        """Each cluster's throughput over the first's (jobs per second, relative)."""
        return self.seconds[0] / np.asarray(self.seconds)

    def overhead(self) -> np.ndarray:
        """Per cluster, the seconds per job that the wall time adds to the jobs' own
        computation spread over the workers: scheduling, sending jobs and results."""
        busy = np.array([sum(t.seconds for t in run) for run in self.tasks])
        return (np.asarray(self.seconds) - busy / np.asarray(self.workers)) \
            / np.array([len(run) for run in self.tasks])


def throughput(*, workers=(1, 2), jobs: int = 6, n_scenes: int = SIZES[3], steps: int = 150,
               progress: bool = True) -> Throughput:
    """Trains ``jobs`` models of the sweep's recipe on a new local cluster of each size in
    ``workers`` and times them; cached on disk (the timings of the run that computed it).

    Parameters
    ----------
    workers : sequence of int
        Worker processes of each cluster, each at least 1.
    jobs : int
        Models trained on each cluster, each with its own seed.
    n_scenes : int
        Training scenes of each model.
    steps : int
        Training steps of each model.
    progress : bool
        Show a progress bar over the jobs of each cluster.

    Returns
    -------
    Throughput
        The wall time and the jobs' own runs on each cluster (see `Throughput`).
    """
    workers = tuple(_checks.integer("workers", k, 1, 1024) for k in workers)
    if not workers:
        raise ValueError("workers must name at least one cluster size")
    jobs = _checks.integer("jobs", jobs, 1, 10_000)
    config = dataclasses.replace(SWEEP_CONFIG, steps=_checks.integer("steps", steps, 1, 10**6))
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    path = cache.directory() / f"throughput-{cache.cache_key(workers, jobs, n_scenes, config)}.json"
    if not path.is_file():
        runs = [(n_scenes, world.WorldConfig(), dataclasses.replace(config, seed=seed),
                 learned.DataConfig()) for seed in range(jobs)]
        seconds, tasks = [], []
        for k in workers:
            with parallel.local_client(k) as pool:
                pool.run(parallel.preload, "depthlab.experiments")
                start = time.perf_counter()
                _, done = parallel.run(_train_job, runs, on=pool, progress=progress,
                                       labels=[f"seed {seed}" for seed in range(jobs)],
                                       desc=f"{jobs} models on {k} worker(s)")
                seconds.append(time.perf_counter() - start)
                tasks.append([dataclasses.asdict(t) for t in done])
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(
            {"seconds": seconds, "tasks": tasks})))
    saved = json.loads(path.read_text())
    return Throughput(workers, tuple(saved["seconds"]),
                      tuple(tuple(parallel.Task(**t) for t in run) for run in saved["tasks"]),
                      n_scenes, config.steps)
