"""The learned model on the real test pairs as its data grows: its learning curve in synthetic
training scenes against the classical methods (`real_curve`), and the fine-tuned model's curve
in real labels (`label_curve`)."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from .. import _checks, real
from ..bootstrap import bootstrap_means, interval, resample
from .comparison import CROSSOVER_SIZES, LearningCurve, _train_runs, study_models
from .realpairs import (_METRICS, _UNTRAINED, LEARNED_KINDS, REAL_METHODS, REAL_SEEDS, RealStudy,
                        _depth, _fine_tuned, _report_pair, _scores, _tuned_models, real_models,
                        real_study)

__all__ = ["LABEL_COUNTS", "REAL_CURVE_SIZES", "LabelCurve", "RealCurve", "label_curve",
           "pair_depths", "real_curve"]


#: Training-set sizes of the learning curve on real pairs: every other size of the crossover
#: study's grid.
REAL_CURVE_SIZES = CROSSOVER_SIZES[::2]


@dataclasses.dataclass(frozen=True)
class RealCurve(LearningCurve):
    """A learned kind's learning curve on the real test pairs, against the flat
    lines of `real_study` (the classical methods and the constant); compared as
    `CrossoverStudy` compares on synthetic scenes (`LearningCurve`: ``mean``, ``ci``, ``gap``,
    ``crossover``).

    Attributes
    ----------
    sizes : tuple of int
        Training-set sizes (synthetic scenes).
    seeds : tuple of int
        Training seeds.
    learned : dict
        Metric to a list over sizes of (seeds, pairs) arrays: the test-pair scores.
    study : RealStudy
        The flat lines, as `real_study` scores them.
    steps, seconds : list
        Per size, each seed's training steps (early stopping ends them below the cap) and
        wall time of its training loop.
    kind : str
        The learned kind of `LEARNED_KINDS` trained.
    synthetic : dict
        Metric to a list over sizes of (seeds, 500) arrays: the scores on synthetic test
        scenes of the kind's world.
    replicates : int
        Bootstrap resamples of the pairs.
    """

    sizes: tuple
    seeds: tuple
    learned: dict
    study: RealStudy
    steps: list
    seconds: list
    kind: str
    synthetic: dict
    replicates: int = 1000

    @property
    def methods(self) -> dict:
        return {m: self.study.scores[m] for m in _UNTRAINED}

    @functools.cached_property
    def weights(self) -> np.ndarray:
        """The pair resamples every comparison shares."""
        return resample(len(self.study.pairs), self.replicates)

    def to_json(self) -> dict:
        return {"kind": self.kind, "sizes": list(self.sizes), "seeds": list(self.seeds),
                "pairs": list(self.study.pairs), "steps": self.steps, "seconds": self.seconds,
                **{metric: {"mean": self.mean(metric).tolist(), "ci": self.ci(metric),
                            "crossover": {other: self.crossover(metric, other).to_json()
                                          for other in self.methods}}
                   for metric in _METRICS}}


def real_curve(*, sizes=REAL_CURVE_SIZES, seeds=REAL_SEEDS, kind: str = "learned",
               progress: bool = True) -> RealCurve:
    """A learned kind (by default the headline model, `REAL_WORLD` and `REAL_MODEL`) trained on
    ``sizes`` synthetic scenes, scored on the real test pairs at the scale it chose on the
    validation pairs, against `real_study`'s classical methods and constant.

    Parameters
    ----------
    sizes : sequence of int
        Training-set sizes, increasing.
    seeds : sequence of int
        Training seeds.
    kind : str
        A name of `LEARNED_KINDS` other than the crossover study's ``"learned_reference"``.
    progress : bool
        Show progress bars while training.

    Returns
    -------
    RealCurve
    """
    sizes = tuple(_checks.integer("sizes", n, 1, 10**6) for n in sizes)
    if list(sizes) != sorted(set(sizes)) or len(sizes) < 2:
        raise ValueError(f"sizes must be at least two increasing sizes, got {sizes}")
    seeds = tuple(_checks.integer("seeds", s, 0, 2**31) for s in seeds)
    if kind not in LEARNED_KINDS or kind == "learned_reference":
        raise ValueError(f"kind must be a name of LEARNED_KINDS other than 'learned_reference', "
                         f"got {kind!r}")
    study = real_study(progress=progress)
    world_config, config, model_config = LEARNED_KINDS[kind]
    runs = {(n, s): (world_config, n, s, False, config.steps) for n in sizes for s in seeds}
    records, _ = _train_runs(list(runs.values()), config, 500, progress,
                             f"{kind}, real learning curve", model_config)
    target = {"target": study.tuning.settings[kind]["target"]}
    scores = {metric: np.zeros((len(sizes), len(seeds), len(study.pairs))) for metric in _METRICS}
    for i, n in enumerate(sizes):
        for j, s in enumerate(seeds):
            model = study_models([n], seed=s, world_config=world_config, config=config,
                                 model_config=model_config, progress=False)[n]
            for k, name in enumerate(study.pairs):
                pair = _report_pair(name)
                for metric, value in _scores(_depth("learned", target, pair, [model]),
                                             pair).items():
                    scores[metric][i, j, k] = value
    steps, seconds = ([[records[runs[n, s]][key] for s in seeds] for n in sizes]
                      for key in ("steps", "seconds"))
    synthetic = {metric: [np.array([records[runs[n, s]]["scores"][metric] for s in seeds])
                          for n in sizes] for metric in _METRICS}
    return RealCurve(sizes, seeds, {metric: list(values) for metric, values in scores.items()},
                     study, steps, seconds, kind, synthetic)


def pair_depths(name: str, *, seed_index: int = 0) -> tuple:
    """One real pair at the report scale and every method's depth map on it, as `real_study`
    computes them (the learned ones of the ``seed_index``-th seed of `REAL_SEEDS`), for figures.

    Parameters
    ----------
    name : str
        One of `real.REAL_PAIRS`.
    seed_index : int
        Which seed's learned models, from 0.

    Returns
    -------
    (real.RealPair, dict)
        The pair, and method (`REAL_METHODS`) to its (H, W) depth map; `ABLATIONS`, trained
        on the first seed only, are left out for the other seeds.
    """
    if name not in real.REAL_PAIRS:
        raise ValueError(f"name must be one of {real.REAL_PAIRS}, got {name!r}")
    seed_index = _checks.integer("seed_index", seed_index, 0, len(REAL_SEEDS) - 1)
    models, tuning = _tuned_models()
    pair = _report_pair(name)
    return pair, {method: _depth(method, tuning.settings[method], pair,
                                 models[method][seed_index:seed_index + 1] if method in models
                                 else ()) for method in REAL_METHODS
                  if method not in models or seed_index < len(models[method])}


#: Labelled validation pairs the few-label curve fine-tunes on.
LABEL_COUNTS = (0, 1, 2, 4, 7)


@dataclasses.dataclass(frozen=True)
class LabelCurve:
    """The headline learned model fine-tuned on k labelled validation pairs, scored on the
    test pairs.

    Attributes
    ----------
    counts : tuple of int
        The k, labelled pairs fine-tuned on (0: synthetic scenes only).
    order : tuple of str
        The validation pairs in the order they are labelled (the first k are used).
    scores : dict
        Metric to a list over ``counts`` of (seeds, pairs) arrays.
    study : RealStudy
        The rest of the comparison, among it the fine-tuning without labels on all the
        validation pairs' frames ("learned_selfsup").
    """

    counts: tuple
    order: tuple
    scores: dict
    study: RealStudy

    def mean(self, metric: str = "absrel") -> np.ndarray:
        """Mean over seeds and pairs, per k."""
        return np.array([np.mean(s) for s in self.scores[metric]])

    def ci(self, metric: str = "absrel", other: str | None = None) -> list:
        """95% intervals per k of the mean (minus ``other``'s, a method of `study`), resampling
        pairs and seeds."""
        weights = resample(len(self.study.pairs))
        values = bootstrap_means(list(self.scores[metric]), weights)
        if other is not None:
            values = values - bootstrap_means(np.asarray(self.study.scores[other][metric]),
                                              weights)
        return np.array(interval(values)).T.tolist()


def label_curve(*, counts=LABEL_COUNTS, progress: bool = True) -> LabelCurve:
    """Few-label adaptation on real data: `real_study`'s headline models fine-tuned on the
    first k validation pairs (in a fixed random order) with their labels, for each k of
    ``counts``, with chapter 7's recipe, and scored on the test pairs.

    Parameters
    ----------
    counts : sequence of int
        Labelled pairs, from 0 to the number of validation pairs, increasing.
    progress : bool
        Show progress bars while training.

    Returns
    -------
    LabelCurve
    """
    validation = real.REAL_SPLITS["validation"]
    counts = tuple(_checks.integer("counts", k, 0, len(validation)) for k in counts)
    if list(counts) != sorted(set(counts)):
        raise ValueError(f"counts must increase, got {counts}")
    study = real_study(progress=progress)
    models = real_models(progress=False)["learned"]
    target = study.tuning.settings["learned"]["target"]
    order = tuple(validation[i] for i in np.random.default_rng(0).permutation(len(validation)))
    scores = {metric: [] for metric in _METRICS}
    for k in counts:
        tuned = _fine_tuned(models, target, names=order[:k]) if k else models
        per_seed = [[_scores(_depth("learned", {"target": target}, _report_pair(name), [m]),
                             _report_pair(name)) for name in study.pairs] for m in tuned]
        for metric in _METRICS:
            scores[metric].append(np.array([[s[metric] for s in run] for run in per_seed]))
    return LabelCurve(counts, order, scores, study)
