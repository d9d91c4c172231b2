"""Data is not free: training sets filled with copies or augmentations of fewer unique
scenes, or with wrong labels (`data_study`), against the sweep's clean sets."""
from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np

from .. import _checks, cache, learned, parallel
from .curves import METRICS
from .studies import (SIZES, SWEEP_CONFIG, Sweep, _score, sweep, test_scenes, train_models,
                      trained_model)

__all__ = ["DATA_NOMINAL", "DATA_UNIQUE", "FILLS", "LABEL_NOISE", "DataStudy", "data_study"]


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
    path = cache.entry("data", result.sizes, nominal, unique, label_noise, seeds, n_test, config,
                       code=__name__)
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
                         world_config=result.world_config, config=config, progress=progress,
                         desc="training sets x seeds")
    scenes = test_scenes(n_test, result.world_config)
    scores = {}
    for name, items, data in sets:
        for seed in seeds:
            model = trained_model(items, seed=seed, world_config=result.world_config,
                                  config=config, progress=False, data=data)
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
