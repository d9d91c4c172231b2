"""The fair crossover study: both sides tuned on validation, every winner with an interval.

- `tune_classical`: the SIFT pipeline's and motion stereo's parameters, chosen on validation
  scenes (`world.VALIDATION_SEED`) by coordinate descent on AbsRel.
- `crossover_study`: the learned model (its search covering the world's disparities, random
  flips, early stopping on validation) at every training-set size, each seed with training
  scenes of its own, a monocular control, and the tuned classical methods, all scored scene by
  scene on the test split; more seeds are trained at the sizes around each crossover.
- `CrossoverStudy`: paired bootstrap intervals (test scenes and seeds) for every mean, every
  learned-minus-classical gap, every crossover N and the power law's exponent and floor.
- `crossover_map`: the same comparison for every camera of `world.CAMERAS`, each with its own
  tuning and early stopping, and `CrossoverMap`, its verdicts per camera and size.

Jobs run on the workers (`depthlab.parallel`); models, scores and the study are cached
(`depthlab.cache`).
"""
from __future__ import annotations

import dataclasses
import functools
import json

import cv2
import numpy as np
import torch

from .. import _checks, cache, classical, learned, metrics, parallel, world
from ..metrics import SCENE_METRICS
from .curves import (METRICS, as_error, bootstrap_crossover, bootstrap_means, fit_power_law,
                     interval, resample)

__all__ = ["CROSSOVER_CONFIG", "CROSSOVER_SIZES", "EARLY_STOPPING_SCENES", "MAP_SEEDS", "MAP_SIZES",
           "PIPELINE_GRID", "SCENE_METRICS", "STEREO_GRID", "VERDICTS", "CrossoverMap",
           "CrossoverStudy", "Tuning", "crossover_map", "crossover_study", "scene_scores",
           "split_scenes", "study_models", "tune_classical"]

#: Bump when the study's own logic (which runs it makes, what it stores) changes: it is part
#: of the study's cache key, as the source of the modules that make the numbers is.
STUDY_FORMAT = 3

#: The study's training-set sizes: 7 sizes, log-spaced from 16 to 4096 scenes.
CROSSOVER_SIZES = tuple(int(round(16 * 256 ** (k / 6))) for k in range(7))

#: The learned side's recipe: whole frames, random flips, early stopping on validation
#: (checked every 100 steps, stopped after 2 checks without improvement), at most 1600 steps.
CROSSOVER_CONFIG = learned.TrainConfig(steps=1600, batch=8, crop=None, flips=True, patience=2,
                                       check_every=100, threads=1)

#: Validation scenes that early stopping measures (the first ones of the validation split).
EARLY_STOPPING_SCENES = 64

#: The classical pipeline's choices, each tried in turn (coordinate descent from the first
#: value, the book's default); `classical.run_pipeline`'s parameters.
PIPELINE_GRID = {"contrast_threshold": (0.01, 0.005, 0.02), "ratio": (0.8, 0.7, 0.9),
                 "threshold": (0.5, 1.0, 0.25), "refine": (False, True),
                 "interpolate": ("inverse", "depth"), "edges": (False, True)}

#: Motion stereo's choices (`classical.stereo_sgbm`); its search range covers the world's
#: largest disparity and is not tuned.
STEREO_GRID = {"block_size": (5, 3, 7), "penalty": (8.0, 2.0, 32.0)}


def scene_scores(depths, scenes: world.Scene) -> dict:
    """`metrics.scene_scores` of relative depth maps (N, H, W) of a batch of scenes, on all
    and on the non-occluded pixels; (N,) arrays by `SCENE_METRICS` name.

    Parameters
    ----------
    depths : (N, H, W) array, or a sequence of N (H, W) arrays
        Relative depth maps, one per scene.
    scenes : world.Scene
        The batch of N scenes the maps are of, from `world.render_scenes`.

    Returns
    -------
    dict
        `SCENE_METRICS` name to an (N,) array, as `metrics.scene_scores` gives it.
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    return metrics.scene_scores(np.asarray(depths), scenes.depth, scenes.disparity,
                                scenes.visible)


@functools.lru_cache(maxsize=4)
def split_scenes(split: str, n_scenes: int,
                 world_config: world.WorldConfig = world.WorldConfig()) -> world.Scene:
    """The first ``n_scenes`` scenes of the "validation" or "test" split, rendered once per
    process."""
    seeds = {"validation": world.VALIDATION_SEED, "test": world.HELD_OUT_SEED}
    if split not in seeds:
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    return world.render_scenes(seeds[split], range(_checks.integer("n_scenes", n_scenes, 1,
                                                                  100_000)), world_config)


def _stereo_range(world_config):
    return int(16 * np.ceil(world_config.max_disparity / 16))


def _classical_job(pipeline, stereo, world_config, split, n_scenes):
    """Worker: the pipeline with ``pipeline`` parameters (or motion stereo with ``stereo``
    on top) on a split's scenes; per-scene scores as lists."""
    cv2.setNumThreads(1)
    scenes = split_scenes(split, n_scenes, world_config)
    if stereo is None:
        depth = [classical.run_pipeline(scenes.frame0[i], scenes.frame1[i], **pipeline).depth
                 for i in range(len(scenes))]
    else:
        depth = [classical.motion_stereo(scenes.frame0[i], scenes.frame1[i],
                                         max_disparity=_stereo_range(world_config), **stereo, **pipeline)
                 for i in range(len(scenes))]
    return {m: v.tolist() for m, v in scene_scores(depth, scenes).items()}


def classical_scores(settings, world_config: world.WorldConfig = world.WorldConfig(),
                     split: str = "validation", n_scenes: int = 200,
                     progress: bool = True) -> list:
    """Per-scene scores of classical methods on a split's first ``n_scenes`` scenes, one entry
    per setting; the settings not cached yet run as one batch of jobs on the workers.

    Parameters
    ----------
    settings : sequence of (dict, dict or None)
        The pipeline's parameters (`PIPELINE_GRID` names), and motion stereo's (`STEREO_GRID`
        names) to run motion stereo on top of that pipeline, or None for the pipeline alone.
    world_config : world.WorldConfig
    split : {"validation", "test"}
    n_scenes : int
    progress : bool

    Returns
    -------
    list of dict
        For each setting, `SCENE_METRICS` name to an (n_scenes,) array.
    """
    _check_world(world_config)
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 100_000)
    settings = [tuple(s) for s in settings]
    for setting in settings:
        if (len(setting) != 2 or not isinstance(setting[0], dict)
                or not isinstance(setting[1], (dict, type(None)))):
            raise TypeError(f"each setting must be (pipeline dict, stereo dict or None), got "
                            f"{setting!r}")
    paths = [cache.directory() / "scores-{}.json".format(cache.cache_key(
        pipeline, stereo, world_config, split, n_scenes)) for pipeline, stereo in settings]
    todo = [k for k, path in enumerate(paths) if not path.is_file()]

    def keep(i, result):
        path = paths[todo[i]]
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(result)))

    parallel.run(_classical_job, [settings[k] + (world_config, split, n_scenes) for k in todo],
                 labels=[repr(settings[k]) for k in todo], desc=f"{split}: classical methods",
                 progress=progress, keep=keep)
    return [{m: np.array(v) for m, v in json.loads(path.read_text()).items()} for path in paths]


@dataclasses.dataclass(frozen=True)
class Tuning:
    """The classical methods' parameters, chosen on validation scenes.

    Attributes
    ----------
    pipeline, stereo : dict
        The chosen parameters (`PIPELINE_GRID`, `STEREO_GRID` names).
    tried : list of dict
        Every setting tried: ``{"method", "params", "absrel", "delta1"}`` (validation means).
    n_validation : int
        Validation scenes.
    """

    pipeline: dict
    stereo: dict
    tried: list
    n_validation: int

    def validation(self, method: str) -> dict:
        """Validation means of the chosen setting of "classical" or "motion_stereo"."""
        chosen = {"classical": self.pipeline, "motion_stereo": {**self.pipeline, **self.stereo}}
        return next(t for t in self.tried if t["method"] == method
                    and t["params"] == chosen[method])

    @property
    def strongest(self) -> str:
        """The classical method with the lower validation AbsRel."""
        return min(("classical", "motion_stereo"), key=lambda m: self.validation(m)["absrel"])


def _descend(method, grid, fixed, worlds, n_validation, progress, tried, phases):
    """Coordinate descent over ``grid`` on validation AbsRel, in lockstep for every world of
    ``worlds`` (one batch of jobs per parameter, whose tasks are appended to ``phases``);
    ``fixed`` and ``tried`` are per world. A setting already in ``tried`` (the current choice,
    measured in the step before) is read from there, not run again. Returns the chosen values
    per world."""
    chosen = [{name: values[0] for name, values in grid.items()} for _ in worlds]

    def params(k, setting):  # everything the method runs with, in world k
        return setting if method == "classical" else {**fixed[k], **setting}

    def measured(k, setting):
        return next((t for t in tried[k] if t["method"] == method
                     and t["params"] == params(k, setting)), None)

    for name, values in grid.items():
        todo = [(k, {**chosen[k], name: v}) for k in range(len(worlds)) for v in values
                if measured(k, {**chosen[k], name: v}) is None]
        jobs = [((s, None) if method == "classical" else (fixed[k], s))
                + (worlds[k], "validation", n_validation) for k, s in todo]
        results, tasks = parallel.run(_classical_job, jobs, progress=progress,
                                      desc=f"validation: {method}, {name}",
                                      labels=[f"{name} = {s[name]}" for _, s in todo])
        phases.append(tasks)
        for (k, setting), score in zip(todo, results):
            tried[k].append({"method": method, "params": params(k, setting),
                             **{m: float(np.mean(score[m])) for m in METRICS}})
        for k in range(len(worlds)):
            means = [measured(k, {**chosen[k], name: v})["absrel"] for v in values]
            chosen[k][name] = values[int(np.argmin(means))]  # the first of equals: the default
    return chosen


def _check_world(world_config):
    if not isinstance(world_config, world.WorldConfig):
        raise TypeError(f"world_config must be a WorldConfig, got {type(world_config).__name__}")
    return world_config


def _tune(worlds, n_validation, progress, phases=None):
    """`tune_classical` for several worlds at once: the ones not cached yet are tuned in
    lockstep, so that their jobs share the workers (each batch's tasks are appended to
    ``phases``)."""
    phases = [] if phases is None else phases
    n_validation = _checks.integer("n_validation", n_validation, 10, 100_000)
    paths = [cache.directory() / "tuning-{}.json".format(cache.cache_key(
        w, n_validation, PIPELINE_GRID, STEREO_GRID)) for w in worlds]
    todo = [k for k, path in enumerate(paths) if not path.is_file()]
    if todo:
        todo_worlds = [worlds[k] for k in todo]
        tried = [[] for _ in todo]
        pipeline = _descend("classical", PIPELINE_GRID, [None] * len(todo), todo_worlds,
                            n_validation, progress, tried, phases)
        stereo = _descend("motion_stereo", STEREO_GRID, pipeline, todo_worlds, n_validation,
                          progress, tried, phases)
        for k, p, st, t in zip(todo, pipeline, stereo, tried):
            cache.write_atomic(paths[k], lambda target, saved={"pipeline": p, "stereo": st,
                                                               "tried": t}:
                               target.write_text(json.dumps(saved)))
    saved = [json.loads(path.read_text()) for path in paths]
    return [Tuning(v["pipeline"], v["stereo"], v["tried"], n_validation) for v in saved]


def tune_classical(world_config: world.WorldConfig = world.WorldConfig(),
                   *, n_validation: int = 200, progress: bool = True) -> Tuning:
    """Chooses the classical pipeline's parameters (`PIPELINE_GRID`), then motion stereo's
    (`STEREO_GRID`, on top of the chosen pipeline, which finds its direction), on
    ``n_validation`` validation scenes; cached on disk.

    Each parameter in turn takes the value with the lowest mean AbsRel, the others held at
    their current choice (coordinate descent, starting from the book's defaults).

    Parameters
    ----------
    world_config : world.WorldConfig
        The world whose validation scenes are scored.
    n_validation : int
        Number of validation scenes, at least 10.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Tuning
        The chosen parameters and every setting tried (see `Tuning`).
    """
    return _tune([_check_world(world_config)], n_validation, progress)[0]


def _run_path(n_scenes, world_config, config, data, model_config=None):
    key = cache.cache_key(n_scenes, config, _architecture(world_config, model_config),
                          world_config, data, EARLY_STOPPING_SCENES)
    return cache.directory() / f"model-{key}.pt", cache.directory() / f"run-{key}.json"


def _architecture(world_config, model_config):
    """``model_config``, or by default the 2-D search that covers the world's disparities."""
    return learned.ModelConfig.for_world(world_config) if model_config is None else model_config


def _run_recipe(config, seed, monocular=False, steps=None):
    """The training and data configurations of one run of the study: ``config`` with the run's
    seed (and step cap), on the world's stream of that seed."""
    recipe = dataclasses.replace(config, seed=seed, steps=config.steps if steps is None else steps)
    return recipe, learned.DataConfig(stream=seed, monocular=monocular)


def _learned_job(n_scenes, world_config, config, data, n_test, model_config=None):
    """Worker: trains one model with early stopping on validation scenes, scores it on the
    test scenes, and returns it as bytes with its per-scene scores and training record."""
    torch.set_num_threads(1)
    model = learned.train(n_scenes, config=config,
                          model_config=_architecture(world_config, model_config),
                          world_config=world_config, progress=False, data=data,
                          validation=split_scenes("validation", EARLY_STOPPING_SCENES,
                                                  world_config))
    test = split_scenes("test", n_test, world_config)
    # Small inference batches keep the worker's peak memory down (the maps are the same).
    depth = learned.predict_batch(model, test.frame0, test.frame1, batch=20)
    record = {"scores": {m: v.tolist() for m, v in scene_scores(depth, test).items()},
              "steps": model.steps, "best_step": model.best_step,
              "seconds": model.seconds}
    return cache.to_bytes(learned.save, model), record


def _train_runs(runs, config, n_test, progress, desc, model_config=None):
    """Trains the runs ``(world_config, n_scenes, seed, monocular, steps)`` not cached yet
    (``steps`` is the cap on training steps), all in one batch of jobs, with the architecture
    ``model_config`` (by default the world's 2-D search); returns their records by run, and
    the tasks."""
    def where(run):
        world_config, n, seed, monocular, steps = run
        recipe, data = _run_recipe(config, seed, monocular, steps)
        return ((n, world_config, recipe, data, n_test, model_config),
                _run_path(n, world_config, recipe, data, model_config))

    todo = [run for run in sorted(set(runs), key=lambda r: (-r[1] * r[4], r[1:]))
            if not where(run)[1][1].is_file()]

    def keep(i, result):
        model_path, run_path = where(todo[i])[1]
        cache.write_bytes(model_path, result[0])
        cache.write_atomic(run_path, lambda target: target.write_text(json.dumps(result[1])))

    _, tasks = parallel.run(
        _learned_job, [where(run)[0] for run in todo], desc=desc, progress=progress, keep=keep,
        labels=[f"N = {n}, seed {s}" + (", monocular" if mono else "")
                + (f", {steps} steps" if steps != config.steps else "")
                for _, n, s, mono, steps in todo])
    return {run: json.loads(where(run)[1][1].read_text()) for run in runs}, tasks


def study_models(sizes, *, seed: int = 0, monocular: bool = False,
                 world_config: world.WorldConfig = world.WorldConfig(),
                 config: learned.TrainConfig = CROSSOVER_CONFIG, n_test: int = 500,
                 progress: bool = True, model_config: learned.ModelConfig | None = None) -> dict:
    """Models of `crossover_study` at the training-set ``sizes`` for one ``seed``, by size,
    trained in parallel (and scored on ``n_test`` test scenes) only if the cache does not have
    them yet: the runs the study itself makes, so a chapter that needs a few models does not
    pay for the whole study, and the study reuses them.

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes.
    seed : int
        The training seed (the world's stream of training scenes, and the run's seed).
    monocular : bool
        Train the monocular control instead of the full model.
    world_config : world.WorldConfig
        The world trained and scored on.
    config : learned.TrainConfig
        The recipe, with early stopping; its seed is replaced by ``seed``.
    n_test : int
        Number of test scenes each model is scored on, at least 10.
    progress : bool
        Show a progress bar.
    model_config : learned.ModelConfig or None
        The architecture; None gives the 2-D search that covers the world's disparities
        (`learned.ModelConfig.for_world`).

    Returns
    -------
    dict
        Training-set size to its trained `learned.DepthModel`, loaded from the cache.
    """
    sizes = [_checks.integer("sizes", n, 1, 10**6) for n in sizes]
    seed = _checks.integer("seed", seed, 0, 2**31)
    _check_world(world_config)
    if not isinstance(config, learned.TrainConfig) or config.patience is None:
        raise ValueError("config must be a learned.TrainConfig with early stopping (patience)")
    n_test = _checks.integer("n_test", n_test, 10, 100_000)
    monocular = bool(monocular)
    if model_config is not None and not isinstance(model_config, learned.ModelConfig):
        raise TypeError(f"model_config must be a learned.ModelConfig or None, got "
                        f"{type(model_config).__name__}")
    _train_runs([(world_config, n, seed, monocular, config.steps) for n in sizes], config,
                n_test, progress, "learned", model_config)
    return {n: learned.load(_run_path(n, world_config, *_run_recipe(config, seed, monocular),
                                      model_config)[0])
            for n in sizes}


def _score_methods(worlds, tunings, n_test, progress, default=False):
    """The tuned pipeline, tuned motion stereo (and with ``default`` the pipeline with the
    book's defaults) and the constant guess on each world's ``n_test`` test scenes, in one
    batch of jobs; per world, {method: {metric: per-scene list}}, and the tasks."""
    settings = [{"classical": (t.pipeline, None),
                 **({"classical_default": ({}, None)} if default else {}),
                 "motion_stereo": (t.pipeline, t.stereo)} for t in tunings]
    results, tasks = parallel.run(
        _classical_job, [s + (w, "test", n_test) for w, row in zip(worlds, settings)
                         for s in row.values()],
        labels=[name for row in settings for name in row], desc="test: classical methods",
        progress=progress)
    out, done = [], 0
    for w, row in zip(worlds, settings):
        methods = dict(zip(row, results[done:done + len(row)]))
        done += len(row)
        test = split_scenes("test", n_test, w)
        methods["constant"] = {m: v.tolist() for m, v in scene_scores(
            np.ones_like(test.depth), test).items()}
        out.append(methods)
    return out, tasks


def _bracket(sizes, gap):
    """Indices of the two sizes around the crossing of a seed-mean gap (empty if none)."""
    crossed = np.flatnonzero((gap[:-1] >= 0) & (gap[1:] < 0))
    return set() if len(crossed) == 0 else {int(crossed[-1]), int(crossed[-1]) + 1}


class LearningCurve:
    """A learned model's scores per training-set size against flat lines (methods that do not
    learn), compared on the same resampled scenes: what `CrossoverStudy` and
    `realpairs.RealCurve` share.

    A subclass has ``sizes``; ``learned``, `SCENE_METRICS` name to a list over sizes of
    (seeds, n) arrays; ``methods``, method name to metric to an (n,) or (seeds, n) array; and
    ``weights``, the (B, n) resamples (`curves.resample`) every comparison shares.
    """

    def _check(self, metric, method=None):
        if metric not in SCENE_METRICS:
            raise ValueError(f"metric must be one of {list(SCENE_METRICS)}, got {metric!r}")
        if method is not None and method not in self.methods:
            raise ValueError(f"method must be one of {list(self.methods)}, got {method!r}")

    def mean(self, metric: str, method: str | None = None):
        """The mean score of ``method`` (a float), or of the learned model per size
        ((sizes,) array, over seeds and scenes)."""
        self._check(metric, method)
        if method is not None:
            return float(np.mean(self.methods[method][metric]))
        return np.array([np.mean(s) for s in self.learned[metric]])

    def replicates_of(self, metric: str, method: str | None = None) -> np.ndarray:
        """Bootstrap replicates of `mean`: (B,) for a method, (sizes, B) for the model."""
        self._check(metric, method)
        if method is not None:
            return bootstrap_means(self.methods[method][metric], self.weights)
        return bootstrap_means(list(self.learned[metric]), self.weights)

    def ci(self, metric: str, method: str | None = None) -> list:
        """95% interval of `mean`."""
        low, high = interval(self.replicates_of(metric, method))
        return [low, high] if method is not None else np.array([low, high]).T.tolist()

    def gap(self, metric: str, method: str) -> np.ndarray:
        """(sizes, B) replicates of the learned model's error minus ``method``'s (negative:
        the learned model is better), paired over the same resampled scenes."""
        self._check(metric, method)
        error = (lambda x: 1.0 - x) if SCENE_METRICS[metric] else (lambda x: x)  # noqa: E731
        return error(self.replicates_of(metric)) - error(self.replicates_of(metric, method))

    def crossover(self, metric: str, method: str):
        """`curves.bootstrap_crossover` of the learned curve against ``method``."""
        return bootstrap_crossover(self.sizes, self.gap(metric, method))


@dataclasses.dataclass(frozen=True)
class CrossoverStudy(LearningCurve):
    """The learned model against the tuned classical methods, scene by scene.

    Attributes
    ----------
    sizes : tuple of int
    seeds : tuple of tuple of int
        The training seeds of each size (more around the crossovers).
    learned : dict
        `SCENE_METRICS` name to a list over sizes of (seeds, n_test) arrays.
    monocular_sizes : tuple of int
        Sizes of the monocular control (seed 0).
    monocular : dict
        Metric name to (monocular sizes, n_test) scores of the control.
    methods : dict
        "classical" (tuned), "classical_default" (the book's defaults), "motion_stereo"
        (tuned) and "constant" to {metric: (n_test,) array}.
    steps, best_steps, train_seconds : list of list
        Per size and seed: steps run, the step whose weights were kept, and wall seconds.
    tuning : Tuning
    world_config : world.WorldConfig
    config : learned.TrainConfig
    n_test : int
    longer : dict or None
        The price of the step cap: the first seed that ran into the cap at the largest size
        where one did, trained again with ``cap_factor`` times the cap: "size", "seed",
        "steps", "best_step", "seconds" and "scores" (metric to (n_test,)); None if no seed
        ran into the cap.
    cap_factor : int
    replicates : int
        Bootstrap replicates.
    tasks : tuple of parallel.Task
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    monocular_sizes: tuple
    monocular: dict
    methods: dict
    steps: list
    best_steps: list
    train_seconds: list
    tuning: Tuning
    world_config: world.WorldConfig
    config: learned.TrainConfig
    n_test: int
    longer: dict
    cap_factor: int
    replicates: int = 1000
    tasks: tuple = ()

    CLASSICAL = ("classical", "motion_stereo")

    @functools.cached_property
    def weights(self) -> np.ndarray:
        """The scene resamples every comparison shares."""
        return resample(self.n_test, self.replicates)


    def monocular_gap(self, metric: str) -> np.ndarray:
        """(monocular sizes, B) replicates of the full model's error minus the monocular
        control's at the same sizes (seed 0 for both; negative: matching helps)."""
        self._check(metric)
        index = [self.sizes.index(n) for n in self.monocular_sizes]
        full = bootstrap_means([self.learned[metric][i][:1] for i in index], self.weights)
        control = bootstrap_means([row[None] for row in self.monocular[metric]], self.weights)
        sign = -1.0 if SCENE_METRICS[metric] else 1.0
        return sign * (full - control)

    def cap_gap(self, metric: str) -> np.ndarray:
        """(B,) replicates of the error of the `longer` run minus that of the same seed and
        size under the cap (negative: the cap costs accuracy)."""
        self._check(metric)
        if self.longer is None:
            raise ValueError("no seed ran into the step cap")
        sign = -1.0 if SCENE_METRICS[metric] else 1.0
        longer = bootstrap_means(np.asarray(self.longer["scores"][metric]), self.weights)
        i = self.sizes.index(self.longer["size"])
        row = self.seeds[i].index(self.longer["seed"])
        capped = bootstrap_means(self.learned[metric][i][row:row + 1], self.weights)
        return sign * (longer - capped)

    def power_law(self, metric: str, replicates: int = 200) -> dict:
        """The power law fitted to the seed means, and 95% intervals, from ``replicates``
        bootstrap resamples, for its exponent (``beta``), its floor (``floor``), the floor
        minus each classical method's error (``floor_minus_<method>``) and the size at which
        the fitted curve reaches that error (``reaches_<method>``; inf if it never does)."""
        curve = self.replicates_of(metric)[:, :replicates]
        fits = [fit_power_law(self.sizes, as_error(metric, curve[:, b]))
                for b in range(curve.shape[1])]
        point = fit_power_law(self.sizes, as_error(metric, self.mean(metric)))
        floors = np.array([f.floor for f in fits])
        out = {"fit": point, "beta": interval([f.beta for f in fits]),
               "floor": interval(floors)}
        for method in self.CLASSICAL:
            classical_error = as_error(metric, self.replicates_of(metric, method)[:replicates])
            out[f"floor_minus_{method}"] = interval(floors - classical_error)
            # Order statistics: a resample whose curve never reaches the line gives inf.
            reach = [f.reaches(e) for f, e in zip(fits, classical_error)]
            out[f"reaches_{method}"] = np.quantile(reach, [0.025, 0.975],
                                                   method="inverted_cdf").tolist()
        return out

    def model(self, n_scenes: int, seed: int = 0, monocular: bool = False) -> learned.DepthModel:
        """A trained model of the study, from the cache."""
        return learned.load(_run_path(n_scenes, self.world_config,
                                      *_run_recipe(self.config, seed, monocular))[0])

    def to_json(self) -> dict:
        """The command line's JSON (see `cli`)."""
        width = max(len(s) for s in self.seeds)
        pad = lambda rows: [list(r) + [None] * (width - len(r)) for r in rows]  # noqa: E731
        out = {"sizes": list(self.sizes), "seeds": sorted({s for row in self.seeds for s in row}),
               "seeds_per_size": [list(s) for s in self.seeds], "n_test": self.n_test,
               "learned": {m: pad([np.mean(s, 1).tolist() for s in self.learned[m]])
                           for m in SCENE_METRICS}}
        for method in self.methods:
            out[method] = {m: np.full((len(self.sizes), width), self.mean(m, method)).tolist()
                           for m in SCENE_METRICS}
        out["mean"] = {"learned": {m: self.mean(m).tolist() for m in SCENE_METRICS},
                       **{method: {m: self.mean(m, method) for m in SCENE_METRICS}
                          for method in self.methods}}
        out["ci"] = {"learned": {m: self.ci(m) for m in SCENE_METRICS},
                     **{method: {m: self.ci(m, method) for m in SCENE_METRICS}
                        for method in self.methods}}
        out["gap"], out["crossover_n"] = {}, {}
        for method in self.CLASSICAL:
            out["gap"][method], out["crossover_n"][method] = {}, {}
            for m in SCENE_METRICS:
                gap = self.gap(m, method)
                out["gap"][method][m] = {"mean": gap.mean(1).tolist(),
                                         "ci": np.array(interval(gap)).T.tolist()}
                out["crossover_n"][method][m] = self.crossover(m, method).to_json()
        for m in METRICS:  # the keys of the first edition: against the sparse pipeline
            out["crossover_n"][m] = out["crossover_n"]["classical"][m]
        out["steps"] = pad(self.steps)
        out["best_step"] = pad(self.best_steps)
        out["train_seconds"] = pad(self.train_seconds)
        out["step_cap"] = self.config.steps
        out["longer_training"] = None if self.longer is None else {
            "size": self.longer["size"], "seed": self.longer["seed"],
            "steps": self.longer["steps"],
            "train_seconds": self.longer["seconds"], "cap_factor": self.cap_factor,
            "gap": {m: {"mean": float(self.cap_gap(m).mean()), "ci": interval(self.cap_gap(m))}
                    for m in SCENE_METRICS}}
        out["monocular"] = {"sizes": list(self.monocular_sizes),
                            **{m: [float(np.mean(r)) for r in self.monocular[m]]
                               for m in SCENE_METRICS}}
        out["validation"] = {"scenes": self.tuning.n_validation,
                             "classical": self.tuning.pipeline,
                             "motion_stereo": self.tuning.stereo,
                             "strongest": self.tuning.strongest,
                             "tried": self.tuning.tried}
        return out


def crossover_study(*, sizes=CROSSOVER_SIZES, seeds=(0, 1, 2), extra_seeds=(3, 4),
                    monocular_sizes=CROSSOVER_SIZES[::2],
                    world_config: world.WorldConfig = world.WorldConfig(), n_test: int = 500,
                    n_validation: int = 200, config: learned.TrainConfig = CROSSOVER_CONFIG,
                    cap_factor: int = 2, progress: bool = True) -> CrossoverStudy:
    """The fair crossover study; cached on disk.

    1. `tune_classical` on ``n_validation`` validation scenes.
    2. The tuned pipeline, tuned motion stereo, the pipeline with the book's defaults and the
       constant guess on ``n_test`` test scenes.
    3. The learned model at every size for every seed of ``seeds``; seed ``s`` trains on the
       world's stream ``s``, nested across sizes. Then ``extra_seeds`` at the two sizes
       around each crossover of the seed means (AbsRel and δ1, against each classical
       method), the monocular control at ``monocular_sizes`` (seed 0), and the first seed
       that ran into the step cap, at the largest size where one did, again with
       ``cap_factor`` times the cap, to price it.

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing, at least 3.
    seeds, extra_seeds : sequence of int
        Training seeds at every size, and the more seeds around the crossovers; all distinct.
    monocular_sizes : sequence of int
        Sizes of ``sizes`` for the monocular control.
    world_config : world.WorldConfig
        The world of every scene, trained on, tuned on and scored on.
    n_test, n_validation : int
        Numbers of test scenes (at least 10) and of validation scenes for the tuning.
    config : learned.TrainConfig
        The recipe (with early stopping); its seed is replaced by each run's.
    cap_factor : int
        How many times the cap the longer run trains (at least 2).
    progress : bool
        Show progress bars.

    Returns
    -------
    CrossoverStudy
        Every score, training record and the tuning, with the bootstrap intervals computed
        from them (see `CrossoverStudy`).
    """
    sizes = tuple(_checks.integer("sizes", n, 1, 10**6) for n in sizes)
    if len(sizes) < 3 or list(sizes) != sorted(set(sizes)):
        raise ValueError(f"sizes must be at least 3 increasing sizes, got {sizes}")
    seeds = tuple(_checks.integer("seeds", s, 0, 2**31) for s in seeds)
    extra_seeds = tuple(_checks.integer("extra_seeds", s, 0, 2**31) for s in extra_seeds)
    if not seeds or len(set(seeds + extra_seeds)) != len(seeds + extra_seeds):
        raise ValueError(f"seeds and extra_seeds must be distinct, got {seeds}, {extra_seeds}")
    monocular_sizes = tuple(monocular_sizes)
    if any(n not in sizes for n in monocular_sizes):
        raise ValueError(f"monocular_sizes must be among sizes {sizes}, got {monocular_sizes}")
    if not isinstance(config, learned.TrainConfig) or config.patience is None:
        raise ValueError("config must be a learned.TrainConfig with early stopping (patience)")
    n_test = _checks.integer("n_test", n_test, 10, 100_000)
    cap_factor = _checks.integer("cap_factor", cap_factor, 2, 100)
    tuning = tune_classical(world_config, n_validation=n_validation, progress=progress)
    key = cache.cache_key(sizes, seeds, extra_seeds, monocular_sizes, world_config, n_test,
                          n_validation, config, cap_factor, STUDY_FORMAT)
    path = cache.directory() / f"crossover-{key}.json"
    if not path.is_file():
        (methods,), tasks = _score_methods([world_config], [tuning], n_test, progress,
                                           default=True)
        cap = config.steps
        runs = [(n, s, False, cap) for n in sizes for s in seeds]
        records, more = _train_runs([(world_config,) + run for run in runs], config, n_test,
                                    progress, "learned: sizes x seeds")
        records = {run[1:]: record for run, record in records.items()}
        tasks += more
        extra = set()
        for method in ("classical", "motion_stereo"):
            for metric, better in METRICS.items():
                mean = np.array([np.mean([np.mean(records[n, s, False, cap]["scores"][metric])
                                          for s in seeds]) for n in sizes])
                sign = -1.0 if better else 1.0
                extra |= _bracket(sizes, sign * (mean - np.mean(methods[method][metric])))
        extra_runs = [(sizes[i], s, False, cap) for i in sorted(extra) for s in extra_seeds]
        extra_runs += [(n, 0, True, cap) for n in monocular_sizes]
        # The price of the cap: the first seed that ran into it, at the largest size where
        # one did, again with a longer cap.
        capped = [(n, s) for n in sizes[::-1] for s in seeds
                  if records[n, s, False, cap]["steps"] >= cap][:1]
        if capped:
            extra_runs.append((capped[0][0], capped[0][1], False, cap_factor * cap))
        more_records, more = _train_runs([(world_config,) + run for run in extra_runs], config,
                                         n_test, progress, "learned: more seeds near "
                                         "crossovers, the monocular control, a longer run")
        records.update({run[1:]: record for run, record in more_records.items()})
        tasks += more
        per_size = [sorted(s for (m, s, mono, steps) in records
                           if m == n and not mono and steps == cap) for n in sizes]
        saved = {"methods": methods, "seeds": per_size,
                 "learned": {m: [[records[n, s, False, cap]["scores"][m] for s in row]
                                 for n, row in zip(sizes, per_size)] for m in SCENE_METRICS},
                 "monocular": {m: [records[n, 0, True, cap]["scores"][m]
                                   for n in monocular_sizes] for m in SCENE_METRICS},
                 **{field: [[records[n, s, False, cap][field] for s in row]
                            for n, row in zip(sizes, per_size)]
                    for field in ("steps", "best_step", "seconds")},
                 "longer": {**records[capped[0] + (False, cap_factor * cap)],
                            "size": capped[0][0], "seed": capped[0][1]} if capped else None,
                 "tasks": [dataclasses.asdict(t) for t in tasks]}
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(saved)))
    saved = json.loads(path.read_text())
    return CrossoverStudy(
        sizes, tuple(tuple(s) for s in saved["seeds"]),
        {m: [np.array(v) for v in rows] for m, rows in saved["learned"].items()},
        monocular_sizes, {m: np.array(v) for m, v in saved["monocular"].items()},
        {method: {m: np.array(v) for m, v in scores.items()}
         for method, scores in saved["methods"].items()},
        saved["steps"], saved["best_step"], saved["seconds"], tuning, world_config, config,
        n_test, saved["longer"], cap_factor,
        tasks=tuple(parallel.Task(**t) for t in saved["tasks"]))


#: The map's training-set sizes (the study's five smallest) and seeds: where a level's world
#: is the study's, the map reuses the study's models.
MAP_SIZES = CROSSOVER_SIZES[:5]
MAP_SEEDS = (0, 1)

#: Bump when the map's own logic changes (part of its cache key).
MAP_FORMAT = 1

#: A verdict per cell: who wins with 95% confidence.
VERDICTS = ("learned", "classical", "motion_stereo", "undecided")


@dataclasses.dataclass(frozen=True)
class CrossoverMap:
    """Who wins where: the learned model against each tuned classical method, per world
    ("level" of camera quality) and training-set size, with paired bootstrap intervals.

    Attributes
    ----------
    levels : dict
        Level name to a `CrossoverStudy` of that world (without the monocular control and
        the longer run): every method tuned on that world's validation scenes.
    phases : tuple of tuple of parallel.Task
        The jobs the map ran (none for what the cache held), batch by batch: the batches of
        the classical methods' tuning, then the test scores, then the training runs. A batch
        starts when the one before has finished.
    """

    levels: dict
    phases: tuple = ()

    @property
    def sizes(self) -> tuple:
        return next(iter(self.levels.values())).sizes

    def _level(self, level):
        if level not in self.levels:
            raise ValueError(f"level must be one of {list(self.levels)}, got {level!r}")
        return self.levels[level]

    def verdicts(self, level: str, metric: str, method: str, confidence: float = 0.95) -> list:
        """Per size: "learned" if the ``confidence`` interval of the gap lies below zero,
        ``method`` if it lies above, "undecided" if it holds zero."""
        if method not in CrossoverStudy.CLASSICAL:
            raise ValueError(f"method must be one of {CrossoverStudy.CLASSICAL}, got {method!r}")
        confidence = _checks.number("confidence", confidence, 0.5, 0.999)
        low, high = np.array(interval(self._level(level).gap(metric, method), confidence))
        return ["learned" if h < 0 else method if lo > 0 else "undecided"
                for lo, h in zip(low, high)]

    def crossover(self, level: str, metric: str, method: str):
        """`curves.bootstrap_crossover` of one level's learned curve against ``method``."""
        return self._level(level).crossover(metric, method)

    def seconds(self) -> float:
        """Wall seconds of the jobs the map ran, batch after batch."""
        return float(sum(max(t.stop for t in phase) - min(t.start for t in phase)
                         for phase in self.phases if phase))

    def projected_seconds(self, workers: int) -> float:
        """The same jobs on ``workers`` workers (`parallel.schedule` per batch, batch after
        batch): what a larger cluster would take, from the measured job times."""
        return float(sum(max(t.stop for t in parallel.schedule([t.seconds for t in phase],
                                                               workers))
                         for phase in self.phases if phase))

    def to_json(self) -> dict:
        """The command line's JSON (``python -m depthlab.experiments map --json``)."""
        first = next(iter(self.levels.values()))
        out = {"levels": list(self.levels), "sizes": list(self.sizes),
               "seeds": sorted({s for row in first.seeds for s in row}),
               "n_test": first.n_test, "metrics": list(METRICS),
               "worlds": {name: dataclasses.asdict(study.world_config)
                          for name, study in self.levels.items()}, "level": {}}
        for name, study in self.levels.items():
            full = study.to_json()
            out["level"][name] = {
                "mean": full["mean"], "ci": full["ci"], "gap": full["gap"],
                "crossover_n": {method: full["crossover_n"][method]
                                for method in CrossoverStudy.CLASSICAL},
                "verdict": {method: {m: self.verdicts(name, m, method) for m in METRICS}
                            for method in CrossoverStudy.CLASSICAL},
                "steps": full["steps"], "validation": full["validation"]}
        out["seconds"] = self.seconds()
        out["projected_seconds"] = {str(k): self.projected_seconds(k) for k in (2, 8, 32)}
        return out


def crossover_map(*, levels=None, sizes=MAP_SIZES, seeds=MAP_SEEDS, n_test: int = 500,
                  n_validation: int = 200, config: learned.TrainConfig = CROSSOVER_CONFIG,
                  progress: bool = True) -> CrossoverMap:
    """The map of verdicts across worlds; cached on disk.

    For every level's world: the classical methods tuned on its validation scenes
    (`tune_classical`, all levels in lockstep), scored on its test scenes, and the learned
    model trained at every size for every seed, with the study's recipe. Every run is
    cached on its own, so a level whose world is the study's costs nothing after the study.

    Parameters
    ----------
    levels : dict, optional
        Level name to `world.WorldConfig`, from the easiest to the hardest (default:
        `world.CAMERAS`).
    sizes : sequence of int
        At least 3 increasing training-set sizes.
    seeds : sequence of int
        Training seeds (each with training scenes of its own).
    n_test, n_validation : int
        Numbers of test scenes (at least 10) and of validation scenes for the tuning, per level.
    config : learned.TrainConfig
        The recipe, with early stopping.
    progress : bool
        Show progress bars.

    Returns
    -------
    CrossoverMap
        A `CrossoverStudy` per level, and the jobs run (see `CrossoverMap`).
    """
    levels = dict(world.CAMERAS if levels is None else levels)
    if not levels or not all(isinstance(k, str) for k in levels):
        raise ValueError("levels must map at least one name to a world.WorldConfig")
    for w in levels.values():
        _check_world(w)
    sizes = tuple(_checks.integer("sizes", n, 1, 10**6) for n in sizes)
    if len(sizes) < 3 or list(sizes) != sorted(set(sizes)):
        raise ValueError(f"sizes must be at least 3 increasing sizes, got {sizes}")
    seeds = tuple(_checks.integer("seeds", s, 0, 2**31) for s in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {seeds}")
    if not isinstance(config, learned.TrainConfig) or config.patience is None:
        raise ValueError("config must be a learned.TrainConfig with early stopping (patience)")
    n_test = _checks.integer("n_test", n_test, 10, 100_000)
    worlds = list(levels.values())
    key = cache.cache_key([[name, dataclasses.asdict(w)] for name, w in levels.items()], sizes,
                          seeds, n_test, n_validation, config, MAP_FORMAT)
    path = cache.directory() / f"map-{key}.json"
    if not path.is_file():
        phases = []
        tunings = _tune(worlds, n_validation, progress, phases)
        methods, tasks = _score_methods(worlds, tunings, n_test, progress)
        phases.append(tasks)
        runs = [(w, n, s, False, config.steps) for w in worlds for n in sizes for s in seeds]
        records, tasks = _train_runs(runs, config, n_test, progress,
                                     "learned: levels x sizes x seeds")
        phases.append(tasks)
        saved = {"methods": methods,
                 "records": [[[records[w, n, s, False, config.steps] for s in seeds]
                              for n in sizes] for w in worlds],
                 "phases": [[dataclasses.asdict(t) for t in phase] for phase in phases]}
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(saved)))
    saved = json.loads(path.read_text())
    tunings = _tune(worlds, n_validation, progress)
    out = {}
    for (name, w), tuning, methods, rows in zip(levels.items(), tunings, saved["methods"],
                                                saved["records"]):
        out[name] = CrossoverStudy(
            sizes, tuple(seeds for _ in sizes),
            {m: [np.array([r["scores"][m] for r in row]) for row in rows] for m in SCENE_METRICS},
            (), {m: np.zeros((0, n_test)) for m in SCENE_METRICS},
            {method: {m: np.array(v) for m, v in scores.items()}
             for method, scores in methods.items()},
            *[[[r[field] for r in row] for row in rows] for field in
              ("steps", "best_step", "seconds")],
            tuning, w, config, n_test, None, 2)
    return CrossoverMap(out, tuple(tuple(parallel.Task(**t) for t in phase)
                                   for phase in saved["phases"]))
