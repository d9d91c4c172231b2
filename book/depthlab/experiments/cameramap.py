"""The crossover on every camera of `world.CAMERAS` (`crossover_map`): each with its own
tuning and early stopping, and `CrossoverMap`, its verdicts per camera and size."""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from .. import _checks, cache, learned, parallel, world
from ..bootstrap import interval
from ..metrics import SCENE_METRICS
from .comparison import (CROSSOVER_CONFIG, CROSSOVER_SIZES, CrossoverStudy, _score_methods,
                         _train_runs)
from .curves import METRICS
from .tuning import _check_world, _tune

__all__ = ["MAP_SEEDS", "MAP_SIZES", "VERDICTS", "CrossoverMap", "crossover_map"]


#: The map's training-set sizes (the study's five smallest) and seeds: where a level's world
#: is the study's, the map reuses the study's models.
MAP_SIZES = CROSSOVER_SIZES[:5]


MAP_SEEDS = (0, 1)


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
    path = cache.entry("map", [[name, dataclasses.asdict(w)] for name, w in levels.items()],
                       sizes, seeds, n_test, n_validation, config, code=__name__)
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
