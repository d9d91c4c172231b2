"""The fair crossover study: both sides tuned on validation, every winner with an interval.

- `crossover_study`: the learned model (its search covering the world's disparities, random
  flips, early stopping on validation) at every training-set size, each seed with training
  scenes of its own, a monocular control, and the classical methods tuned on validation
  (`tuning`), all scored scene by scene on the test split; more seeds are trained at the
  sizes around each crossover.
- `CrossoverStudy`: paired bootstrap intervals (test scenes and seeds) for every mean, every
  learned-minus-classical gap, every crossover N and the power law's exponent and floor.

Jobs run on the workers (`depthlab.parallel`); models, scores and the study are cached
(`depthlab.cache`).
"""
from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np

from .. import _checks, cache, learned, parallel, world
from ..bootstrap import bootstrap_means, interval, resample
from ..metrics import SCENE_METRICS
from . import models
from .curves import METRICS, as_error, bootstrap_crossover, fit_power_law
from .tuning import (Tuning, _check_world, _classical_job, scene_scores, split_scenes,
                     tune_classical)

__all__ = ["CROSSOVER_CONFIG", "CROSSOVER_SIZES", "EARLY_STOPPING_SCENES", "CrossoverStudy",
           "LearningCurve", "crossover_study", "study_models"]


#: The study's training-set sizes: 7 sizes, log-spaced from 16 to 4096 scenes.
CROSSOVER_SIZES = tuple(int(round(16 * 256 ** (k / 6))) for k in range(7))


#: The learned side's recipe: whole frames, random flips, early stopping on validation
#: (checked every 100 steps, stopped after 2 checks without improvement), at most 1600 steps.
CROSSOVER_CONFIG = learned.TrainConfig(steps=1600, batch=8, crop=None, flips=True, patience=2,
                                       check_every=100, threads=1)


#: Validation scenes that early stopping measures (the first ones of the validation split).
EARLY_STOPPING_SCENES = 64


def _architecture(world_config, model_config):
    """``model_config``, or by default the 2-D search that covers the world's disparities."""
    return learned.ModelConfig.for_world(world_config) if model_config is None else model_config


def _study_run(world_config, n_scenes, seed, monocular, steps, config, n_test,
               model_config=None):
    """One run of the study: ``config`` with the run's seed and step cap, on the world's stream
    of that seed, with early stopping on validation scenes and scored on ``n_test`` test
    scenes."""
    recipe = dataclasses.replace(config, seed=seed, steps=steps)
    return models.Run(n_scenes, recipe, world_config,
                      learned.DataConfig(stream=seed, monocular=monocular),
                      _architecture(world_config, model_config), EARLY_STOPPING_SCENES, n_test)


def _train_runs(runs, config, n_test, progress, desc, model_config=None):
    """Trains the runs ``(world_config, n_scenes, seed, monocular, steps)`` not cached yet
    (``steps`` is the cap on training steps), all in one batch of jobs, with the architecture
    ``model_config`` (by default the world's 2-D search); returns their records by run, and
    the tasks."""
    made = {run: _study_run(*run, config, n_test, model_config) for run in runs}
    ordered = sorted(made, key=lambda r: (-r[1] * r[4], r[1:]))
    records, tasks = models.train_runs(
        [made[r] for r in ordered], desc=desc, progress=progress,
        labels=[f"N = {n}, seed {s}" + (", monocular" if mono else "")
                + (f", {steps} steps" if steps != config.steps else "")
                for _, n, s, mono, steps in ordered])
    return {run: records[made[run]] for run in runs}, tasks


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
    return {n: learned.load(_study_run(world_config, n, seed, monocular, config.steps, config,
                                       n_test, model_config).paths()[0])
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
    `realcurves.RealCurve` share.

    A subclass has ``sizes``; ``learned``, `SCENE_METRICS` name to a list over sizes of
    (seeds, n) arrays; ``methods``, method name to metric to an (n,) or (seeds, n) array; and
    ``weights``, the (B, n) resamples (`bootstrap.resample`) every comparison shares.
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
        return learned.load(_study_run(self.world_config, n_scenes, seed, monocular,
                                       self.config.steps, self.config, self.n_test).paths()[0])

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


def _sizes_near_crossovers(sizes, seeds, records, methods, cap):
    """Indices of the sizes on both sides of every place where the seeds' mean crosses a
    classical method's, on either metric (`_bracket`): where more seeds are trained."""
    extra = set()
    for method in ("classical", "motion_stereo"):
        for metric, better in METRICS.items():
            mean = np.array([np.mean([np.mean(records[n, s, False, cap]["scores"][metric])
                                      for s in seeds]) for n in sizes])
            sign = -1.0 if better else 1.0
            extra |= _bracket(sizes, sign * (mean - np.mean(methods[method][metric])))
    return extra


def _study_record(sizes, monocular_sizes, records, methods, cap, longer, tasks):
    """What the cache keeps of a study: every run's scores and training record by size and
    seed, the monocular control, the ``longer`` run (its run key, or None) and the tasks."""
    per_size = [sorted(s for (m, s, mono, steps) in records
                       if m == n and not mono and steps == cap) for n in sizes]
    return {"methods": methods, "seeds": per_size,
            "learned": {m: [[records[n, s, False, cap]["scores"][m] for s in row]
                            for n, row in zip(sizes, per_size)] for m in SCENE_METRICS},
            "monocular": {m: [records[n, 0, True, cap]["scores"][m]
                              for n in monocular_sizes] for m in SCENE_METRICS},
            **{field: [[records[n, s, False, cap][field] for s in row]
                       for n, row in zip(sizes, per_size)]
               for field in ("steps", "best_step", "seconds")},
            "longer": {**records[longer], "size": longer[0], "seed": longer[1]}
            if longer else None,
            "tasks": [dataclasses.asdict(t) for t in tasks]}


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
    path = cache.entry("crossover", sizes, seeds, extra_seeds, monocular_sizes, world_config,
                       n_test, n_validation, config, cap_factor, code=__name__)
    if not path.is_file():
        (methods,), tasks = _score_methods([world_config], [tuning], n_test, progress,
                                           default=True)
        cap = config.steps
        runs = [(n, s, False, cap) for n in sizes for s in seeds]
        records, more = _train_runs([(world_config,) + run for run in runs], config, n_test,
                                    progress, "learned: sizes x seeds")
        records = {run[1:]: record for run, record in records.items()}
        tasks += more
        extra = _sizes_near_crossovers(sizes, seeds, records, methods, cap)
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
        saved = _study_record(sizes, monocular_sizes, records, methods, cap,
                              capped[0] + (False, cap_factor * cap) if capped else None, tasks)
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
