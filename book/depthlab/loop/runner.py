"""Running loops: one, resumable, in its database (`run`), many side by side on the workers of
`depthlab.parallel` (`run_many`), and the choice of the fine-tuning recipe (`tune_recipe`)."""
from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import tempfile

import numpy as np
import torch

from .. import _checks, cache, experiments, learned, parallel
from .config import (PHASES, RECIPE_GRID, RECIPE_VALIDATION, LoopConfig, _first_model,
                     _initial_config, _phase_scenes, _recipe_labels, tuned)
from .policy import _scene_scores
from .rounds import _REFERENCE_FIELDS, _reference, _replay, _round
from .store import _checkpoints, _committed, _files, _open, _repair, _start

__all__ = ["default_db", "run", "run_many", "tune_recipe"]


def run(db, rounds: int, *, config: LoopConfig = LoopConfig(),
        prices: experiments.CostModel = experiments.CostModel(),
        progress: bool = True) -> list:
    """Runs the loop until the database holds ``rounds`` committed rounds.

    Parameters
    ----------
    db : str or path
        The SQLite database; created if missing, resumed if it holds fewer rounds.
        Checkpoints go to the folder ``<db>.models`` next to it.
    rounds : int
        Total rounds wanted, >= 1.
    config : LoopConfig
        Must equal the configuration the database was created with.
    prices : experiments.CostModel
        Every label, bought, held out or tested on, is priced at ``prices.label``.
    progress : bool

    Returns
    -------
    list of dict
        Every committed round, as `Round.to_json` makes it.
    """
    rounds = _checks.integer("rounds", rounds, 1, 10_000)
    return _run(pathlib.Path(db), rounds, tuned(config), prices, progress)


def _run(db, rounds, config, prices, progress, references=None):
    """`run`, with the `_reference` of some rounds already computed (a dict by round); the
    others are computed here."""
    db.parent.mkdir(parents=True, exist_ok=True)
    references = references or {}
    connection = _open(db, config)
    try:
        with _one_thread():  # the same numbers in a notebook, a worker or the command line
            if connection.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0:
                _start(connection, db, config, progress)
            _repair(connection, db, config)
            frozen = learned.load(_checkpoints(db) / "round-000.pt")
            done = connection.execute("SELECT COALESCE(MAX(round), 0) FROM rounds").fetchone()[0]
            for round_ in range(done + 1, rounds + 1):
                reference = (references[round_] if round_ in references
                             else _reference(config, round_, frozen))
                _round(connection, db, config, round_, prices, reference, progress)
        return [json.loads(m) for (m,) in connection.execute(
            "SELECT metrics FROM rounds ORDER BY round")]
    finally:
        connection.close()


@contextlib.contextmanager
def _one_thread():
    """Torch on one thread inside the block, as every loop computes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def default_db(config: LoopConfig = LoopConfig()) -> pathlib.Path:
    """The database of a configuration in the model cache, named by the configuration and
    by the code that makes its numbers (this module and the modules it imports:
    `cache.code_digest`), so that a changed loop starts afresh instead of reading stale
    rounds.

    Parameters
    ----------
    config : LoopConfig
        The loop's settings.

    Returns
    -------
    pathlib.Path
        The database's path (the file may not exist yet).
    """
    return cache.entry("loop", tuned(config), code=__name__, suffix=".sqlite")


def _recipe_job(model, config, recipe, name):
    """Worker: ``model`` fine-tuned with ``recipe`` on ``config.budget`` labelled validation
    scenes of the phase ``name`` and the replay; its mean AbsRel on validation scenes of that
    phase and of the first (None: the model as it is)."""
    torch.set_num_threads(1)
    if recipe is not None:
        labelled = _phase_scenes(name, config.budget, 301)
        dataset = learned.SceneDataset.of(*_replay(config, recipe["replay"], config.budget),
                                          labelled)
        model = learned.fit(model, dataset, config=learned.TrainConfig(
            steps=recipe["steps"], lr=recipe["lr"], threads=1, seed=config.seed), progress=False)
    return {p: float(_scene_scores(model, _phase_scenes(p, RECIPE_VALIDATION, 201)).mean())
            for p in dict.fromkeys((PHASES[0][0], name))}


def tune_recipe(config: LoopConfig = LoopConfig(), *, progress: bool = True) -> dict:
    """Chooses the fine-tuning recipe on validation scenes, never on the loop's own streams,
    held-out or test sets; cached on disk.

    For every recipe of `RECIPE_GRID` and every drifted phase, the first model of ``config``
    is fine-tuned once, as in a round, on ``config.budget`` labelled scenes of the phase and
    the replay, and scored on `RECIPE_VALIDATION` validation scenes of that phase and of the
    first phase. A recipe's score is the mean of the two over the drifted phases (so that
    forgetting the first phase counts as much as learning the new one); the lowest wins.
    The jobs run on the workers of `depthlab.parallel`.

    Parameters
    ----------
    config : LoopConfig
        The loop whose first model is fine-tuned (``seed``, ``budget``, ``initial`` and
        ``initial_steps`` matter).
    progress : bool
        Show progress bars.

    Returns
    -------
    dict
        ``chosen`` (the recipe: ``steps``, ``lr``, ``replay``); ``tried``: every recipe with
        its ``absrel`` per phase (drifted phase name to ``{phase: AbsRel}``) and ``score``;
        ``untuned``: the first model's own scores, in the same form; ``labels``: the
        labelled validation scenes used.
    """
    _checks.instance("config", config, LoopConfig)
    path = cache.entry("recipe", config.seed, config.budget, config.initial,
                       config.initial_steps, RECIPE_GRID, RECIPE_VALIDATION, code=__name__)
    if not path.is_file():
        model = _first_model(config, progress)
        recipes = [dict(zip(RECIPE_GRID, values))
                   for values in itertools.product(*RECIPE_GRID.values())]
        drifted = [p for p, _ in PHASES[1:]]
        jobs = [(model, config, r, p) for r in [None, *recipes] for p in drifted]
        results, _ = parallel.run(_recipe_job, jobs, desc="validation: fine-tuning recipes",
                                  labels=[f"{r}, {p}" for _, _, r, p in jobs],
                                  progress=progress)
        scored = []
        for k, recipe in enumerate([None, *recipes]):
            absrel = dict(zip(drifted, results[k * len(drifted):(k + 1) * len(drifted)]))
            scored.append({"recipe": recipe, "absrel": absrel,
                           "score": float(np.mean([np.mean(list(v.values()))
                                                   for v in absrel.values()]))})
        saved = {"chosen": min(scored[1:], key=lambda t: t["score"])["recipe"],
                 "tried": scored[1:], "untuned": scored[0], "labels": _recipe_labels(config)}
        cache.write_atomic(path, lambda target: target.write_text(json.dumps(saved)))
    return json.loads(path.read_text())


def _loop_job(config, rounds, files, references):
    """Worker: resumes a loop from its files (`_files`) in a scratch folder of its own, runs it
    to ``rounds`` rounds with the rounds' `_reference` (a dict by round) and returns its files,
    so that no disk is shared with the client."""
    with tempfile.TemporaryDirectory(prefix="depthlab-loop-") as folder:
        db = pathlib.Path(folder) / "loop.sqlite"
        db.write_bytes(files["db"])
        _checkpoints(db).mkdir()
        for name, data in files["models"].items():
            (_checkpoints(db) / name).write_bytes(data)
        _run(db, rounds, config, experiments.CostModel(), False, references)
        return _files(db)


def _reference_job(config, rounds, first_model):
    """Worker: the `_reference` of each of ``rounds`` (by round), for every loop that shares
    ``config``'s `_REFERENCE_FIELDS`; ``first_model`` is the bytes of its checkpoint."""
    with tempfile.TemporaryDirectory(prefix="depthlab-loop-") as folder, _one_thread():
        path = pathlib.Path(folder) / "round-000.pt"
        path.write_bytes(first_model)
        frozen = learned.load(path)
        return {r: _reference(config, r, frozen) for r in rounds}


def _reference_key(config):
    return tuple(getattr(config, name) for name in _REFERENCE_FIELDS)


def _shared_references(todo, rounds, progress):
    """The `_reference` of every round that the loops ``todo`` have still to run, computed once
    for each group of loops that share it (a job per group) and sent to the workers once: a
    future of a dict by round, for each `_reference_key`."""
    groups = {}
    for config in todo:
        groups.setdefault(_reference_key(config), []).append(config)
    jobs = [(same[0], range(min(_committed(default_db(c)) for c in same) + 1, rounds + 1),
             (_checkpoints(default_db(same[0])) / "round-000.pt").read_bytes())
            for same in groups.values()]
    found, _ = parallel.run(_reference_job, jobs, desc="references", progress=progress,
                            labels=[f"{c.drift}, seed {c.seed}" for c, *_ in jobs])
    return dict(zip(groups, parallel.client().scatter(found)))


def run_many(configs, rounds: int, *, progress: bool = True) -> list:
    """`run` for every configuration, each in its `default_db`, side by side.

    The loops not yet done run as jobs on the workers (`depthlab.parallel`): their first
    models are trained there first (through the model cache), the round-0 databases are made
    here, and each worker returns its loop's database and checkpoints, which are written here.
    What no strategy changes (motion stereo on the served scenes, the frozen model's scores:
    `_reference`) is computed once for the loops of one seed and drift, before they start.
    Finished loops are read from their databases. Returns the records of each configuration,
    in order.

    Parameters
    ----------
    configs : iterable of LoopConfig
        The loops' settings.
    rounds : int
        Total rounds wanted of every loop, >= 1.
    progress : bool
        Show progress bars over the first models and the loops.

    Returns
    -------
    list of list of dict
        For each configuration, the round records that `run` returns.
    """
    configs = list(configs)
    rounds = _checks.integer("rounds", rounds, 1, 10_000)
    for config in configs:
        if not isinstance(config, LoopConfig):
            raise TypeError(f"configs must be LoopConfigs, got {type(config).__name__}")
    configs = [tuned(c) for c in configs]
    todo = list(dict.fromkeys(c for c in configs if _committed(default_db(c)) < rounds))
    for steps in sorted({c.initial_steps for c in todo}):
        same = [c for c in todo if c.initial_steps == steps]
        experiments.train_models(list(dict.fromkeys((c.initial, c.seed, learned.DataConfig())
                                                    for c in same)),
                                 config=_initial_config(same[0]), progress=progress,
                                 desc="first models")
    for config in todo:
        db = default_db(config)
        db.parent.mkdir(parents=True, exist_ok=True)
        connection = _open(db, config)
        try:
            if connection.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0:
                _start(connection, db, config, progress=False)
        finally:
            connection.close()

    shared = _shared_references(todo, rounds, progress) if todo else {}

    def keep(i, files):  # a loop's files, as soon as it is done
        db = default_db(todo[i])
        for name, data in files["models"].items():  # before the database that names them
            cache.write_bytes(_checkpoints(db) / name, data)
        cache.write_bytes(db, files["db"])

    parallel.run(_loop_job, [(c, rounds, _files(default_db(c)), shared[_reference_key(c)])
                             for c in todo],
                 labels=[f"{c.strategy}, {c.drift}, seed {c.seed}" for c in todo],
                 desc="loops",
                 progress=progress, keep=keep)
    return [run(default_db(c), rounds, config=c, progress=False) for c in configs]
