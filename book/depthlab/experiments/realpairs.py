"""Real photographs as the judge: the book's methods on its real stereo pairs.

Every choice about real data is made on the validation pairs of `real.REAL_SPLITS`, and every
number about real data is reported on its test pairs:

- the scale a method reads a pair at, as the largest disparity it brings the pair to (one of
  `SCALE_TARGETS`), chosen per method on the validation pairs;
- the classical methods' parameters, by the same coordinate descent over `PIPELINE_GRID` and
  `STEREO_GRID` as on synthetic scenes, on the validation pairs;
- the learned model is trained on synthetic scenes only, of `REAL_WORLD` with the epipolar
  search `REAL_MODEL`, with early stopping on that world's validation scenes; the fine-tuned
  model adds every labelled validation pair (`real.fine_tune`).

Each method's depth is scored on the same pixels: at the report scale, which brings a pair's
largest disparity to ``max(SCALE_TARGETS)`` (never enlarging it), a method that read the pair
smaller has its depth map resized to it. `score_pair` applies all this to any pair. How the
learned model's real error moves with its synthetic training set, and with real labels, is
in `realcurves`.
"""
from __future__ import annotations

import dataclasses
import functools
import json

import cv2
import numpy as np

from .. import _checks, cache, classical, learned, loop, metrics, real, stereo, world
from ..bootstrap import bootstrap_means, interval, resample
from .comparison import CROSSOVER_CONFIG, CROSSOVER_SIZES, _train_runs, study_models
from .tuning import PIPELINE_GRID, STEREO_GRID

__all__ = ["ABLATIONS", "LEARNED_KINDS", "REAL_CONFIG", "REAL_METHODS", "REAL_MODEL", "REAL_SEEDS",
           "REAL_SIZE", "REAL_WORLD", "SCALE_TARGETS", "RealStudy", "RealTuning", "real_models",
           "real_study", "scaled_pair", "score_pair", "tune_real"]

#: The world the learned model for real pairs is trained in (`world.WORLDS`), the one whose
#: models did best on the validation pairs.
REAL_WORLD = world.WORLDS["wide"]


#: Its architecture: a 1-D search along the rows of a rectified pair, 32 px either way.
REAL_MODEL = learned.ModelConfig(radius=16, search="epipolar")


#: Its recipe: the crossover study's, without the flips, which would reverse the motion that
#: a rectified left-right pair always has.
REAL_CONFIG = dataclasses.replace(CROSSOVER_CONFIG, flips=False)


#: The learned models compared on real pairs: (world, recipe, architecture) by name. Besides
#: the headline model: the same world with the crossover study's 2-D search (its two volumes
#: reach 32 px too), the other worlds of `world.WORLDS`, the wide world with one knob of
#: domain randomization each (geometry: the randomized world's 2 to 8 occluders; photometry:
#: its lighting change; texture: 40% of the surfaces nearly textureless instead of 15%, as
#: walls and tables are in rooms), and the crossover study's model itself.
LEARNED_KINDS = {
    "learned": (REAL_WORLD, REAL_CONFIG, REAL_MODEL),
    "learned_2d": (REAL_WORLD, REAL_CONFIG,
                   learned.ModelConfig.for_world(world.WORLDS["reference"])),
    "learned_rectified": (world.WORLDS["rectified"], REAL_CONFIG, REAL_MODEL),
    "learned_occluders": (dataclasses.replace(REAL_WORLD, objects=world.WORLDS[
        "randomized"].objects), REAL_CONFIG, REAL_MODEL),
    "learned_lighting": (dataclasses.replace(REAL_WORLD, lighting_change=world.WORLDS[
        "randomized"].lighting_change), REAL_CONFIG, REAL_MODEL),
    "learned_textureless": (dataclasses.replace(REAL_WORLD, low_texture_share=0.4), REAL_CONFIG,
                            REAL_MODEL),
    "learned_randomized": (world.WORLDS["randomized"], REAL_CONFIG, REAL_MODEL),
    "learned_reference": (world.WORLDS["reference"], CROSSOVER_CONFIG, None),
}


#: The world ablations (the kinds that change the headline model's world) train on the first
#: seed only: one knob each, compared with the headline model's first seed.
ABLATIONS = tuple(k for k in LEARNED_KINDS if k not in ("learned", "learned_2d",
                                                         "learned_reference"))


#: Training scenes of the headline model: the crossover study's largest size.
REAL_SIZE = CROSSOVER_SIZES[-1]


#: Training seeds, each with scenes of its own.
REAL_SEEDS = (0, 1, 2)


#: The largest disparity, in pixels, a pair may be brought to before a method reads it.
SCALE_TARGETS = (12.0, 20.0, 28.0)


#: The methods compared, with what each is.
REAL_METHODS = {
    "learned": "learned, synthetic scenes only (wide world, epipolar search)",
    "learned_finetuned": "learned, fine-tuned on the labelled validation pairs",
    "learned_selfsup": "learned, fine-tuned on the validation pairs' frames without labels",
    "learned_2d": "learned, synthetic scenes only (wide world, 2-D search)",
    "learned_rectified": "learned, synthetic scenes only (rectified world, epipolar search)",
    "learned_occluders": "learned, synthetic scenes only (wide world with occluders, epipolar)",
    "learned_lighting": "learned, synthetic scenes only (wide world with lighting, epipolar)",
    "learned_textureless": "learned, synthetic scenes only (wide world, more textureless, "
                           "epipolar)",
    "learned_randomized": "learned, synthetic scenes only (randomized world, epipolar search)",
    "learned_reference": "learned, the crossover study's model (reference world, 2-D search)",
    "classical": "SIFT pipeline, tuned on the validation pairs",
    "motion_stereo": "motion stereo, tuned on the validation pairs",
    "constant": "a constant depth",
}


_METRICS = ("absrel", "delta1", "bad1")


_UNTRAINED = ("classical", "motion_stereo", "constant")


_STEREO_RANGE = 32  # covers every disparity at max(SCALE_TARGETS)


def scaled_pair(pair: real.RealPair, target: float) -> real.RealPair:
    """``pair`` downscaled so that its largest known disparity is ``target`` pixels (never
    enlarged).

    Parameters
    ----------
    pair : real.RealPair
    target : float
        The largest disparity, in pixels, at least 1.

    Returns
    -------
    real.RealPair
        ``pair`` itself if its largest disparity is at most ``target`` already.
    """
    if not isinstance(pair, real.RealPair):
        raise TypeError(f"pair must be a real.RealPair, got {type(pair).__name__}")
    target = _checks.number("target", target, 1.0, 1000.0)
    scale = min(1.0, target / float(np.nanmax(pair.disparity)))
    if scale == 1.0:
        return pair
    return real.make_pair(pair.frame0, pair.frame1, np.nan_to_num(pair.disparity),
                          known=pair.valid, scale=scale, name=pair.name)


@functools.lru_cache(maxsize=None)
def _pair(name):
    return real.load_real(name)


def _depth(method, settings, pair, models=()):
    """One method's depth on ``pair`` (a `RealPair` at the report scale), read at the method's
    scale and resized to the pair's size."""
    if method == "constant":
        return np.ones_like(pair.depth)
    small = scaled_pair(pair, settings["target"])
    if method == "classical":
        depth = classical.run_pipeline(small.frame0, small.frame1, **settings["pipeline"]).depth
    elif method == "motion_stereo":
        depth = stereo.motion_stereo(small.frame0, small.frame1, max_disparity=_STEREO_RANGE,
                                        **settings["stereo"], **settings["pipeline"])
    else:
        depth = np.mean([learned.predict(m, small.frame0, small.frame1) for m in models], 0)
    height, width = pair.depth.shape
    return cv2.resize(depth.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def _scores(depth, pair):
    """AbsRel, δ1 and the bad-pixel rate of ``depth`` on ``pair``."""
    scores = metrics.scene_scores(depth[None], pair.depth[None], pair.disparity[None],
                                  pair.valid[None])
    return {m: float(scores[m][0]) for m in _METRICS}


@functools.lru_cache(maxsize=None)
def _report_pair(name):
    return scaled_pair(_pair(name), max(SCALE_TARGETS))


@dataclasses.dataclass(frozen=True)
class RealTuning:
    """The choices made on the validation pairs.

    Attributes
    ----------
    settings : dict
        Method to its settings: ``{"target": px, "pipeline": {...}, "stereo": {...}}`` for the
        classical methods, ``{"target": px}`` for the learned ones.
    tried : list of dict
        Every setting tried: ``{"method", "settings", "absrel"}`` (the validation mean).
    validation : dict
        Learned kind to its AbsRel on the validation pairs at its settings: one list per seed,
        one value per pair (in the order of ``real.REAL_SPLITS["validation"]``).
    """

    settings: dict
    tried: list
    validation: dict


def _validation_absrel(method, settings, models=()):
    """Mean AbsRel over the validation pairs (and over ``models``, one seed each)."""
    runs = [[m] for m in models] or [()]
    return float(np.mean([_validation_scores(method, settings, run) for run in runs]))


def _validation_scores(method, settings, run=()):
    """AbsRel on each validation pair, of one run (a list of one model, or none)."""
    return [_scores(_depth(method, settings, _report_pair(name), run), _report_pair(name))["absrel"]
            for name in real.REAL_SPLITS["validation"]]


def _descend(method, grid, start, tried, models=()):
    """Coordinate descent on the validation pairs' mean AbsRel: each setting of ``grid`` (a
    dict of ``(group, name)`` to values) in turn, the others held; returns the settings."""
    settings = json.loads(json.dumps(start))
    for (group, name), values in grid.items():
        measured = []
        for value in values:
            trial = json.loads(json.dumps(settings))
            if group is None:
                trial[name] = value
            else:
                trial[group][name] = value
            known = next((t["absrel"] for t in tried
                          if t["method"] == method and t["settings"] == trial), None)
            if known is None:
                known = _validation_absrel(method, trial, models)
                tried.append({"method": method, "settings": trial, "absrel": known})
            measured.append(known)
        best = values[int(np.argmin(measured))]
        if group is None:
            settings[name] = best
        else:
            settings[group][name] = best
    return settings


def _kind_seeds(kind, seeds):
    """The seeds a kind trains on: all of ``seeds``, or the first for `ABLATIONS`."""
    return tuple(seeds[:1]) if kind in ABLATIONS else tuple(seeds)


def _records(kind, seeds, n_scenes, progress):
    """Trains a kind's models (if not cached) for ``seeds`` (`_kind_seeds`) in one batch of
    jobs; returns their records, with each model's scores on 500 test scenes of its own
    world."""
    world_config, config, model_config = LEARNED_KINDS[kind]
    runs = [(world_config, n_scenes, s, False, config.steps) for s in _kind_seeds(kind, seeds)]
    records, _ = _train_runs(runs, config, 500, progress, f"{kind}, for real pairs", model_config)
    return [records[run] for run in runs]


def real_models(*, seeds=REAL_SEEDS, n_scenes: int = REAL_SIZE, kinds=tuple(LEARNED_KINDS),
                progress: bool = True) -> dict:
    """The learned models for real pairs, trained on synthetic scenes only (if not cached).

    Parameters
    ----------
    seeds : sequence of int
        Training seeds, each with scenes of its own (`ABLATIONS` take the first).
    n_scenes : int
        Training scenes.
    kinds : sequence of str
        Names of `LEARNED_KINDS`.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        Kind to a list of `learned.DepthModel`, one per seed it trains on.
    """
    seeds = [_checks.integer("seeds", s, 0, 2**31) for s in seeds]
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    unknown = [k for k in kinds if k not in LEARNED_KINDS]
    if unknown:
        raise ValueError(f"kinds must be names of LEARNED_KINDS {tuple(LEARNED_KINDS)}, "
                         f"got {unknown}")
    for kind in kinds:
        _records(kind, seeds, n_scenes, progress)
    return {kind: [study_models([n_scenes], seed=s, world_config=LEARNED_KINDS[kind][0],
                                config=LEARNED_KINDS[kind][1], model_config=LEARNED_KINDS[kind][2],
                                progress=False)[n_scenes] for s in _kind_seeds(kind, seeds)]
            for kind in kinds}


def _fine_tuned(models, target, labels=True, names=real.REAL_SPLITS["validation"]):
    """Each model fine-tuned on the pairs ``names`` (by default the validation pairs) read at
    ``target`` px, with their labels or (``labels=False``) from their frames alone, with
    chapter 7's fine-tuning recipe (`loop.LoopConfig`)."""
    recipe = loop.LoopConfig()
    pairs = [scaled_pair(_pair(name), target) for name in names]
    crop = (min(min(p.frame0.shape[0] for p in pairs), 64) // 2 * 2,
            min(min(p.frame0.shape[1] for p in pairs), 96) // 2 * 2)
    return [real.fine_tune(m, pairs, steps=recipe.steps, lr=recipe.lr, labels=labels,
                           batch=learned.TrainConfig().batch, crop=crop, seed=0) for m in models]


def _tuned_models(seeds=REAL_SEEDS, progress=False):
    """Every learned kind's models for ``seeds`` (trained if not cached), the choices made on
    the validation pairs, and the two adapted kinds added: fine-tuned with and without labels.
    Returns (models by kind, `RealTuning`)."""
    models = real_models(seeds=seeds, progress=progress)
    tuning = tune_real(models, progress=progress)
    target = tuning.settings["learned"]["target"]
    return {**models, "learned_finetuned": _fine_tuned(models["learned"], target),
            "learned_selfsup": _fine_tuned(models["learned"], target, labels=False)}, tuning


def tune_real(models: dict | None = None, *, progress: bool = True) -> RealTuning:
    """Every choice about real data, made on the validation pairs (cached).

    The classical methods run coordinate descent over the scale and their grids; each learned
    model kind picks its scale (on the mean over its seeds). The fine-tuned model, which learns
    from the validation pairs, keeps the scale its synthetic-only model picked.

    Parameters
    ----------
    models : dict or None
        `real_models`' output; None trains or loads it.
    progress : bool
        Show progress bars while training.

    Returns
    -------
    RealTuning
    """
    models = real_models(progress=progress) if models is None else models
    digest = cache.array_digest(*[t.detach().numpy() for kind in LEARNED_KINDS
                                  for m in models[kind] for t in m.net.state_dict().values()])
    path = cache.entry("real-tuning", real.REAL_SPLITS, SCALE_TARGETS, PIPELINE_GRID,
                       STEREO_GRID, digest, code=__name__)
    if path.is_file():
        saved = json.loads(path.read_text())
        return RealTuning(saved["settings"], saved["tried"], saved["validation"])
    tried = []
    targets = {(None, "target"): SCALE_TARGETS}
    start = {"target": SCALE_TARGETS[1],
             "pipeline": {name: values[0] for name, values in PIPELINE_GRID.items()}}
    pipeline = _descend("classical", {**targets, **{("pipeline", name): values for name, values
                                                    in PIPELINE_GRID.items()}}, start, tried)
    stereo = _descend("motion_stereo", {**targets, **{("stereo", name): values for name, values
                                                      in STEREO_GRID.items()}},
                      {**pipeline, "stereo": {n: v[0] for n, v in STEREO_GRID.items()}}, tried)
    settings = {"classical": pipeline, "motion_stereo": stereo, "constant": {}}
    for kind in LEARNED_KINDS:
        settings[kind] = _descend(kind, targets, {"target": SCALE_TARGETS[1]}, tried,
                                  models[kind])
    # Fine-tuned on the validation pairs, they cannot choose on them: they keep their model's
    # scale.
    settings["learned_finetuned"] = settings["learned_selfsup"] = dict(settings["learned"])
    validation = {kind: [_validation_scores(kind, settings[kind], [m]) for m in models[kind]]
                  for kind in LEARNED_KINDS}
    cache.write_atomic(path, lambda target: target.write_text(
        json.dumps({"settings": settings, "tried": tried, "validation": validation})))
    return RealTuning(settings, tried, validation)


@dataclasses.dataclass(frozen=True)
class RealStudy:
    """The methods on the real test pairs.

    Attributes
    ----------
    pairs : tuple of str
        The test pairs, in order.
    scores : dict
        Method to metric (``"absrel"``, ``"delta1"``, ``"bad1"``) to an (S, n) array: S seeds
        (1 for the untrained methods) by n pairs.
    tuning : RealTuning
        The choices made on the validation pairs.
    seeds : tuple of int
        The learned models' training seeds.
    n_scenes : int
        Their training scenes.
    synthetic : dict
        Learned kind to metric to an (S, 500) array: each model's scores on the test scenes
        of the world it was trained in.
    training : dict
        Learned kind to ``{"steps", "seconds"}``: per seed, the training steps (early stopping
        ends them below the cap) and the wall time of the training loop.
    """

    pairs: tuple
    scores: dict
    tuning: RealTuning
    seeds: tuple
    n_scenes: int
    synthetic: dict
    training: dict

    def mean(self, method: str, metric: str = "absrel") -> float:
        """Mean over seeds and pairs."""
        return float(np.mean(self.scores[method][metric]))

    def _paired(self, method, other, metric):
        """The two methods' (seeds, pairs) scores, on the seeds both trained on when both are
        trained (an ablation has the first seed only); an untrained method's one row is
        compared with every seed."""
        a, b = (np.asarray(self.scores[m][metric], float) for m in (method, other))
        if method not in _UNTRAINED and other not in _UNTRAINED:
            a, b = a[:len(b)], b[:len(a)]
        return a, b

    def ci(self, method: str, metric: str = "absrel", other: str | None = None) -> list:
        """95% interval of the mean (of ``method`` minus ``other`` with ``other``, on their
        common seeds), resampling the pairs and, independently, the seeds."""
        values = np.asarray(self.scores[method][metric], float)
        if other is not None:
            a, b = self._paired(method, other, metric)
            values = a - b
        return interval(bootstrap_means(values, resample(len(self.pairs))))

    def wins(self, method: str, other: str, metric: str = "absrel") -> int:
        """Test pairs on which ``method``'s mean over the common seeds is better than
        ``other``'s."""
        a, b = (np.mean(v, 0) for v in self._paired(method, other, metric))
        return int(np.sum(a > b if metrics.SCENE_METRICS[metric] else a < b))

    def to_json(self) -> dict:
        methods = {}
        for method in self.scores:
            entry = {"description": REAL_METHODS[method],
                     "settings": self.tuning.settings[method]}
            for metric in _METRICS:
                entry[metric] = {"mean": self.mean(method, metric),
                                 "ci": self.ci(method, metric),
                                 "per_pair": dict(zip(self.pairs, np.mean(
                                     self.scores[method][metric], 0).tolist()))}
            methods[method] = entry
        learned_kinds = [m for m in self.scores if m.startswith("learned")]
        gaps = {f"{a} - {b}": {"mean": self.mean(a) - self.mean(b), "ci": self.ci(a, other=b),
                               "pairs_better": self.wins(a, b)}
                for a in learned_kinds for b in self.scores if b != a}
        synthetic = {kind: {metric: {"mean": float(np.mean(values)),
                                     "ci": interval(bootstrap_means(values, resample(
                                         values.shape[1])))}
                            for metric, values in by_metric.items()}
                     for kind, by_metric in self.synthetic.items()}
        return {"synthetic_test_scenes": synthetic, "pairs": list(self.pairs),
                "validation_pairs": list(real.REAL_SPLITS["validation"]),
                "seeds": list(self.seeds), "n_scenes": self.n_scenes, "metric_gaps": "absrel",
                "training": self.training, "methods": methods, "gaps": gaps}


def real_study(*, seeds=REAL_SEEDS, progress: bool = True) -> RealStudy:
    """Every method of `REAL_METHODS` on the real test pairs, with the choices `tune_real`
    made on the validation pairs.

    Parameters
    ----------
    seeds : sequence of int
        Training seeds of the learned models.
    progress : bool
        Show progress bars while training.

    Returns
    -------
    RealStudy
    """
    seeds = tuple(seeds)
    models, tuning = _tuned_models(seeds, progress)
    pairs = real.REAL_SPLITS["test"]
    scores = {}
    for method in REAL_METHODS:
        runs = [[m] for m in models[method]] if method in models else [()]
        per_run = [[_scores(_depth(method, tuning.settings[method], _report_pair(name), run),
                            _report_pair(name)) for name in pairs] for run in runs]
        scores[method] = {metric: np.array([[s[metric] for s in run] for run in per_run])
                          for metric in _METRICS}
    records = {kind: _records(kind, seeds, REAL_SIZE, False) for kind in LEARNED_KINDS}
    synthetic = {kind: {metric: np.array([r["scores"][metric] for r in runs])
                        for metric in _METRICS} for kind, runs in records.items()}
    training = {kind: {key: [r[key] for r in runs] for key in ("steps", "seconds")}
                for kind, runs in records.items()}
    return RealStudy(pairs, scores, tuning, seeds, REAL_SIZE, synthetic, training)


def score_pair(frame0: np.ndarray, frame1: np.ndarray, disparity: np.ndarray, *,
               known: np.ndarray | None = None) -> dict:
    """Every method's scores on one rectified stereo pair with ground truth, as the book
    scores its real test pairs.

    The pair is brought to the report scale (its largest known disparity to
    ``max(SCALE_TARGETS)`` px, never enlarged). Each method reads it at the scale it chose on
    the validation pairs, with the parameters it was tuned with there (`tune_real`), and the
    learned ones average their seeds' depth maps (`real_models`, trained if not cached).

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        The left and right grey frames, uint8 or float in [0, 1], rectified and sharing one
        principal point (a point at disparity ``d`` moves by ``-d`` in x).
    disparity : (H, W) array
        True disparity in pixels.
    known : (H, W) bool array, optional
        Pixels with ground truth; by default where ``disparity`` is finite and positive.

    Returns
    -------
    dict
        Method (`REAL_METHODS`) to ``{"absrel", "delta1", "bad1"}``: the bad-pixel rate is the
        share of known pixels whose disparity, after median scaling, is off by more than 1 px
        at the report scale.
    """
    pair = scaled_pair(real.make_pair(frame0, frame1, disparity, known=known, name="scored"),
                       max(SCALE_TARGETS))
    models, tuning = _tuned_models()
    return {method: _scores(_depth(method, tuning.settings[method], pair, models.get(method, ())),
                            pair) for method in REAL_METHODS}
