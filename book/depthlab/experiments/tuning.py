"""The classical side of every comparison: the validation and test splits, per-scene scores,
the SIFT pipeline's and motion stereo's parameters chosen on validation scenes
(`world.VALIDATION_SEED`) by coordinate descent on AbsRel (`tune_classical`), and the pipeline
run and scored on any batch of scenes, through the cache (`evaluate_classical`)."""
from __future__ import annotations

import dataclasses
import functools
import json
import time

import cv2
import numpy as np
from tqdm.auto import tqdm

from .. import _checks, cache, classical, metrics, parallel, world
from ..stereo import motion_stereo, search_range
from .curves import METRICS

__all__ = ["PIPELINE_GRID", "STEREO_GRID", "ClassicalEvaluation", "Tuning", "classical_scores",
           "evaluate_classical", "scene_scores", "split_scenes", "tune_classical"]


#: The classical pipeline's choices, each tried in turn (coordinate descent from the first
#: value, the book's default); `classical.run_pipeline`'s parameters.
PIPELINE_GRID = {"contrast_threshold": (0.01, 0.005, 0.02), "ratio": (0.8, 0.7, 0.9),
                 "threshold": (0.5, 1.0, 0.25), "refine": (False, True),
                 "interpolate": ("inverse", "depth"), "edges": (False, True)}


#: Motion stereo's choices (`stereo.stereo_sgbm`); its search range covers the world's
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
    _checks.scenes("scenes", scenes)
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


def _classical_job(pipeline, stereo, world_config, split, n_scenes):
    """Worker: the pipeline with ``pipeline`` parameters (or motion stereo with ``stereo``
    on top) on a split's scenes; per-scene scores as lists."""
    cv2.setNumThreads(1)
    scenes = split_scenes(split, n_scenes, world_config)
    if stereo is None:
        depth = [classical.run_pipeline(scenes.frame0[i], scenes.frame1[i], **pipeline).depth
                 for i in range(len(scenes))]
    else:
        search = search_range(world_config.max_disparity)
        depth = [motion_stereo(scenes.frame0[i], scenes.frame1[i],
                                         max_disparity=search, **stereo, **pipeline)
                 for i in range(len(scenes))]
    return {m: v.tolist() for m, v in scene_scores(depth, scenes).items()}


def classical_scores(settings, *, world_config: world.WorldConfig = world.WorldConfig(),
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
    paths = [cache.entry("scores", pipeline, stereo, world_config, split, n_scenes,
                         code=__name__) for pipeline, stereo in settings]
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
    _checks.instance("world_config", world_config, world.WorldConfig)
    return world_config


def _tune(worlds, n_validation, progress, phases=None):
    """`tune_classical` for several worlds at once: the ones not cached yet are tuned in
    lockstep, so that their jobs share the workers (each batch's tasks are appended to
    ``phases``)."""
    phases = [] if phases is None else phases
    n_validation = _checks.integer("n_validation", n_validation, 10, 100_000)
    paths = [cache.entry("tuning", w, n_validation, PIPELINE_GRID, STEREO_GRID, code=__name__)
             for w in worlds]
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


def _json_params(params):
    """``params`` if they are JSON values (a cache key's parts), else a TypeError."""
    try:
        json.dumps(params)
    except TypeError as error:
        raise TypeError(f"the pipeline's params must be JSON values, got {params!r}") from error
    return params


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
    _checks.scenes("scenes", scenes)
    def run():
        classical.run_pipeline(scenes[0].frame0, scenes[0].frame1, **params)  # warm-up
        depth, reliable, seconds = [], [], []
        for i in tqdm(range(len(scenes)), desc="classical pipeline", disable=not progress):
            start = time.perf_counter()
            result = classical.run_pipeline(scenes.frame0[i], scenes.frame1[i], **params)
            seconds.append(time.perf_counter() - start)
            depth.append(result.depth)
            reliable.append(result.reliable)
        return {"depth": np.stack(depth), "reliable": np.array(reliable),
                "seconds": np.array(seconds)}

    saved = cache.memo("classical", cache.array_digest(scenes.frame0, scenes.frame1),
                       _json_params(params), code=__name__, compute=run, suffix=".npz",
                       save=cache.save_arrays, load=cache.load_arrays)
    depth, reliable, seconds = saved["depth"], saved["reliable"], saved["seconds"]
    constant = np.ones_like(scenes.depth[0])
    return ClassicalEvaluation(
        [metrics.depth_metrics(depth[i], scenes.depth[i]) for i in range(len(scenes))],
        [metrics.depth_metrics(constant, scenes.depth[i]) for i in range(len(scenes))],
        depth, reliable, seconds)
