"""How the studies scale: the same training jobs on 1 and 2 local workers (`throughput`)."""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from .. import _checks, cache, parallel
from . import models
from .studies import SIZES, SWEEP_CONFIG

__all__ = ["Throughput", "throughput"]


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
    path = cache.entry("throughput", workers, jobs, n_scenes, config, code=__name__)
    if not path.is_file():
        runs = [(models.Run(n_scenes, dataclasses.replace(config, seed=seed)),)
                for seed in range(jobs)]
        seconds, tasks = [], []
        for k in workers:
            with parallel.local_client(k) as pool:
                pool.run(parallel.preload, "depthlab.experiments")
                start = time.perf_counter()
                _, done = parallel.run(models._job, runs, on=pool, progress=progress,
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
