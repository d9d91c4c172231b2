"""The book's studies: each one a set of independent jobs that `depthlab.parallel` runs, with
its results kept in the disk cache (`depthlab.cache`).

- `sweep`: the learned model at every training-set size and seed, against the methods that do
  not train; with `feature_curve`, the pipeline with a learned descriptor.

A job runs on a worker and returns its result (a trained model as bytes, scores as numbers);
this process writes the cache, and a job whose result is cached is not submitted at all.
"""
from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import torch

from .. import _checks, cache, classical, features, learned, metrics, parallel, stereo, world
from . import models
from .curves import METRICS, as_error, crossing, fit_power_law
from .tuning import _json_params, evaluate_classical

__all__ = ["FEATURE_CONFIG", "FEATURE_METRICS", "SIZES", "SWEEP_CONFIG", "FeatureCurve", "Sweep",
           "feature_curve", "pipeline_scores", "sweep", "test_scenes", "train_models",
           "trained_descriptor", "trained_model"]

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


def _sweep_run(n_scenes, seed, world_config, config, data):
    """The run of one model of the sweep's kind (a fixed budget of steps, the default
    architecture), after checking its arguments."""
    config = dataclasses.replace(_checks.instance("config", config, learned.TrainConfig),
                                 seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    return models.Run(n_scenes, config, world_config, data)


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
    return models.trained(_sweep_run(n_scenes, seed, world_config, config, data),
                          progress=progress)


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
    runs = list(runs)
    _, tasks = models.train_runs([_sweep_run(n, seed, world_config, config, data)
                                  for n, seed, data in runs],
                                 labels=[f"N = {n}, seed {seed}" for n, seed, _ in runs],
                                 desc=desc, progress=progress)
    return tasks


def _descriptor_path(n_scenes, seed, world_config, config):
    _checks.instance("config", config, features.DescriptorTrainConfig)
    config = dataclasses.replace(config, seed=_checks.integer("seed", seed, 0, 2**32 - 1))
    n_scenes = _checks.integer("n_scenes", n_scenes, 0, 10**6)
    return cache.entry("descriptor", n_scenes, config, world_config, code=__name__,
                       suffix=".pt"), config


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
    descriptor = features.train(n_scenes, config=config, world_config=world_config,
                                progress=progress)
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
    _checks.scenes("scenes", scenes)
    if descriptor is not None and not isinstance(descriptor, features.LearnedDescriptor):
        raise TypeError(f"descriptor must be None or a features.LearnedDescriptor, got "
                        f"{type(descriptor).__name__}")
    weights = () if descriptor is None else tuple(
        t.detach().numpy() for t in descriptor.net.state_dict().values())
    truth = (scenes.depth, scenes.flow, scenes.visible)
    _json_params(params)
    return cache.memo("pipeline", cache.array_digest(scenes.frame0, scenes.frame1, *truth,
                                                     *weights),
                      None if descriptor is None else descriptor.config, params, code=__name__,
                      compute=lambda: _pipeline_scores(scenes, descriptor, **params))


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
        descriptor = features.train(n_scenes, config=config, world_config=world_config,
                                    progress=False)
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
    path = cache.entry("features", sizes, seeds, world_config, n_test, config, code=__name__)
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
        return trained_model(n_scenes, seed=seed, world_config=self.world_config,
                             config=self.config, progress=False)

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
    _checks.instance("world_config", world_config, world.WorldConfig)
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
    curve = feature_curve(sizes=sizes, seeds=seeds, world_config=world_config, n_test=n_test,
                          config=FEATURE_CONFIG, progress=progress)
    methods = {**result.methods, "classical": {**result.methods["classical"],
                                               "precision": curve.sift["precision"],
                                               "recall": curve.sift["recall"]}}
    return dataclasses.replace(result, methods=methods, learned_features=curve.learned)


def _end_to_end(sizes, seeds, world_config, n_test, config, progress):
    """The sweep of the end-to-end model, against the methods that do not train."""
    path = cache.entry("sweep", sizes, seeds, world_config, n_test, config, code=__name__)
    if not path.is_file():
        scenes = test_scenes(n_test, world_config)
        pipeline = evaluate_classical(scenes, progress=False)
        methods = {"classical": _score(pipeline.depth, scenes),
                   "motion_stereo": _score([stereo.motion_stereo(scenes.frame0[i],
                                                                    scenes.frame1[i])
                                            for i in range(n_test)], scenes),
                   "constant": _score(np.ones_like(scenes.depth), scenes)}
        tasks = train_models([(n, seed, learned.DataConfig()) for n in sizes for seed in seeds],
                             world_config=world_config, config=config, progress=progress)
        scores = {m: np.zeros((len(sizes), len(seeds))) for m in METRICS}
        for i, n in enumerate(sizes):
            for j, seed in enumerate(seeds):
                model = trained_model(n, seed=seed, world_config=world_config, config=config,
                                      progress=False)
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
