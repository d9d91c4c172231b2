"""One path for training and caching the book's networks.

A `Run` says everything that makes one trained network: its training items, recipe (with its
seed), world, data and architecture, how many validation scenes early stopping measures, and
how many test scenes the network is scored on after training. `train_runs` trains the runs
that the cache does not hold yet as jobs on the workers (`depthlab.parallel`), and keeps each
network with its record (training steps, best step, seconds, and per-scene test scores);
`trained` reads a network back, training it in this process if it is missing. Every study,
the loop and the chapters train through here.
"""
from __future__ import annotations

import dataclasses
import json

import torch

from .. import _checks, cache, learned, parallel, world
from .tuning import scene_scores, split_scenes

__all__ = ["Run", "train_runs", "trained"]


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run, and the name of its cache entries.

    Attributes
    ----------
    n_scenes : int
        Training items.
    config : learned.TrainConfig
        The recipe, with the run's seed.
    world_config : world.WorldConfig
        The world of the training (and validation and test) scenes.
    data : learned.DataConfig
        How the training items are made.
    model_config : learned.ModelConfig
        The architecture.
    validation : int
        Validation scenes that early stopping measures (the first of the validation split);
        0 without early stopping.
    n_test : int
        Test scenes the network is scored on after training, per scene; 0 for none.
    """

    n_scenes: int
    config: learned.TrainConfig
    world_config: world.WorldConfig = world.WorldConfig()
    data: learned.DataConfig = learned.DataConfig()
    model_config: learned.ModelConfig = learned.ModelConfig()
    validation: int = 0
    n_test: int = 0

    def __post_init__(self):
        _checks.integer("n_scenes", self.n_scenes, 1, 10**6)
        _checks.instance("config", self.config, learned.TrainConfig)
        _checks.instance("world_config", self.world_config, world.WorldConfig)
        _checks.instance("data", self.data, learned.DataConfig)
        _checks.instance("model_config", self.model_config, learned.ModelConfig)
        _checks.integer("validation", self.validation, 0, 100_000)
        _checks.integer("n_test", self.n_test, 0, 100_000)
        if (self.config.patience is None) != (self.validation == 0):
            raise ValueError("early stopping (config.patience) needs validation scenes, and "
                             f"only it: got patience={self.config.patience!r} and "
                             f"validation={self.validation}")

    def paths(self):
        """The cache entries of the network and of its record."""
        return (cache.entry("model", self, code=__name__, suffix=".pt"),
                cache.entry("run", self, code=__name__))


def _train(run, progress):
    """The network of ``run`` and its record."""
    validation = (split_scenes("validation", run.validation, run.world_config)
                  if run.validation else None)
    model = learned.train(run.n_scenes, config=run.config, model_config=run.model_config,
                          world_config=run.world_config, progress=progress, data=run.data,
                          validation=validation)
    record = {"steps": model.steps, "best_step": model.best_step, "seconds": model.seconds}
    if run.n_test:
        test = split_scenes("test", run.n_test, run.world_config)
        # Small inference batches keep the worker's peak memory down (the maps are the same).
        depth = learned.predict_batch(model, test.frame0, test.frame1, batch=20)
        record = {"scores": {m: v.tolist() for m, v in scene_scores(depth, test).items()},
                  **record}
    return model, record


def _job(run):
    """Worker: ``run``'s network as bytes (`learned.save`), and its record, on one core."""
    torch.set_num_threads(1)
    model, record = _train(run, progress=False)
    return cache.to_bytes(learned.save, model), record


def _keep(run, model_bytes, record):
    model_path, record_path = run.paths()
    cache.write_bytes(model_path, model_bytes)  # before the record that says it is there
    cache.write_atomic(record_path, lambda target: target.write_text(json.dumps(record)))


def train_runs(runs, *, labels=None, desc: str = "training", progress: bool = True) -> tuple:
    """Trains the runs that are not cached yet, as one batch of jobs on the workers.

    The longest runs (items times steps) are submitted first, so that they do not end the
    batch alone.

    Parameters
    ----------
    runs : iterable of Run
    labels : sequence of str, optional
        A name for each run, for the task records; by default its size and seed.
    desc : str
        The progress bar's title.
    progress : bool
        Show a progress bar over the runs trained.

    Returns
    -------
    records : dict
        Each run's record (see `Run`), by run.
    tasks : list of parallel.Task
        Where and when each run trained (empty when every one was cached).
    """
    runs = list(runs)
    for run in runs:
        _checks.instance("runs", run, Run)
    labels = ([f"N = {r.n_scenes}, seed {r.config.seed}" for r in runs] if labels is None
              else list(labels))
    if len(labels) != len(runs):
        raise ValueError(f"labels must name every run: {len(labels)} for {len(runs)} runs")
    named = dict(zip(runs, labels))
    todo = sorted((r for r in named if not r.paths()[1].is_file()),
                  key=lambda r: -r.n_scenes * r.config.steps)
    _, tasks = parallel.run(_job, [(r,) for r in todo], labels=[named[r] for r in todo],
                            desc=desc, progress=progress,
                            keep=lambda i, result: _keep(todo[i], *result))
    return {r: json.loads(r.paths()[1].read_text()) for r in runs}, tasks


def trained(run: Run, *, progress: bool = True) -> learned.DepthModel:
    """``run``'s network, from the cache; trained in this process first if it is missing.

    Parameters
    ----------
    run : Run
    progress : bool
        Show a progress bar while training.

    Returns
    -------
    learned.DepthModel
    """
    _checks.instance("run", run, Run)
    model_path, record_path = run.paths()
    if not record_path.is_file():
        model, record = _train(run, progress)
        _keep(run, cache.to_bytes(learned.save, model), record)
    return learned.load(model_path)
