"""The continuous improvement loop: deploy, monitor, select, label, retrain, gate, redeploy.

A deployed model (the *champion*) serves a stream of unlabelled scenes from a world that
drifts over the rounds (`PHASES`). Each round it is monitored without labels, a batch of the
stream is chosen for labelling under a budget, the labels are bought at the price of
`experiments.CostModel`, a *challenger* is retrained on every label bought so far, and a gate
deploys it only if it beats the champion on a fixed held-out set of the current phase.

All state lives in one SQLite database (`run` takes its path): the scenes seen, the labels
bought and their cost, every model (checkpoint file and scores, rejected challengers too),
the deployments and per-round metrics. A round is one transaction, committed after its
checkpoint file is written and flushed to the disk, so a process killed at any moment resumes
from the last committed round: no label is lost or counted twice, and no checkpoint is
referenced without its file. SQLite runs with ``synchronous=FULL``, so a committed round also
survives a power loss. The database keeps each checkpoint's SHA-256; on resume, the temporary
files of interrupted writes are removed and every checkpoint is checked, and a damaged or
missing one is never used: the rounds from the first damaged one on are rolled back and
computed again (the loop is deterministic, so they come out the same).

Several loops run side by side with `run_many`, as jobs on the workers of `depthlab.parallel`
(a local cluster, or a remote one), each in its own database in the model cache.

Command line (run from ``book/``)::

    python -m depthlab.loop run --db PATH --rounds R --budget B --strategy S --seed K --json
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pathlib
import sqlite3
import sys
import tempfile
import time
import warnings

import numpy as np
import scipy.stats
import torch

from . import _checks, cache, classical, experiments, explain, hybrid, learned, metrics, \
    parallel, world

__all__ = ["PHASES", "STEPS", "STRATEGIES", "LoopConfig", "default_db", "main", "monitor",
           "phase", "run", "run_many", "select"]

#: The loop's steps, in order (the chapter draws its diagram from this list).
STEPS = ("deploy", "monitor", "select", "label", "retrain", "gate", "redeploy")

#: Ways to choose which scenes of the stream to label.
STRATEGIES = ("random", "uncertainty", "disagreement", "photometric", "diversity")

#: The world's drift: phases of `LoopConfig.phase_rounds` rounds each, as changes to the
#: standard `world.WorldConfig`. The last phase lasts for ever.
#: After the photos the first model was trained on come dark, noisy frames; then a
#: microscope whose stage moves less between the frames (a shorter baseline, so smaller
#: flow); then documents, with more low-texture surfaces and uneven lighting.
PHASES = (("photos", {}),
          ("dark", {"brightness": 0.3, "noise": 0.04}),
          ("microscopy", {"domain": "microscopy", "baseline": (0.12, 0.2)}),
          ("documents", {"domain": "documents", "baseline": (0.12, 0.2),
                         "low_texture_share": 0.35, "lighting_change": 0.3}))

_APPLICATION_ID = 0x44455054  # "DEPT": marks a database as this loop's
_SCHEMA_VERSION = 2  # PRAGMA user_version: 2 keeps each checkpoint's SHA-256
_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE scenes(id INTEGER PRIMARY KEY, round INTEGER NOT NULL, phase TEXT NOT NULL,
                    world_seed INTEGER NOT NULL, idx INTEGER NOT NULL,
                    UNIQUE(phase, world_seed, idx));
CREATE TABLE labels(scene INTEGER PRIMARY KEY REFERENCES scenes(id), round INTEGER NOT NULL,
                    cost REAL NOT NULL);
CREATE TABLE models(id INTEGER PRIMARY KEY, round INTEGER NOT NULL, path TEXT NOT NULL,
                    parent INTEGER, metrics TEXT NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE deployments(round INTEGER PRIMARY KEY, model INTEGER NOT NULL REFERENCES models(id));
CREATE TABLE rounds(round INTEGER PRIMARY KEY, phase TEXT NOT NULL, metrics TEXT NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The loop's settings (fixed for the life of a database).

    Parameters
    ----------
    budget : int
        Labels bought per round, at most ``stream``.
    strategy : str
        One of `STRATEGIES`.
    seed : int
        Seeds the first champion, the stream and the retraining.
    stream : int
        Unlabelled scenes served per round.
    initial : int
        Labelled scenes of the first phase the first champion was trained on (a model of
        the crossover sweep).
    initial_steps : int
        Training steps of the first champion (the sweep's recipe by default, so it is the
        sweep's cached model).
    held_out : int
        Scenes per phase in the gate's fixed held-out set.
    test : int
        Scenes per phase in a separate test set, on which the deployed and the frozen first
        model are scored for the record (the gate never sees it).
    retrain : str
        "finetune" (the champion, trained further) or "scratch" (a fresh network, with the
        sweep's recipe), either on every label bought and as many replayed scenes of the
        first model.
    steps : int
        Fine-tuning steps (one thread, like every training run of the book).
    phase_rounds : int
        Rounds per phase of `PHASES`.
    """

    budget: int = 16
    strategy: str = "random"
    seed: int = 0
    stream: int = 48
    initial: int = experiments.SIZES[3]
    initial_steps: int = experiments.SWEEP_CONFIG.steps
    held_out: int = 48
    test: int = 64
    retrain: str = "finetune"
    steps: int = 60
    phase_rounds: int = 1

    def __post_init__(self):
        _checks.integer("stream", self.stream, 2, 10_000)
        _checks.integer("budget", self.budget, 1, 10_000)
        if self.budget > self.stream:
            raise ValueError(f"budget must be at most the stream of {self.stream} scenes per "
                             f"round, got {self.budget}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.retrain not in ("finetune", "scratch"):
            raise ValueError(f"retrain must be 'finetune' or 'scratch', got {self.retrain!r}")
        _checks.integer("seed", self.seed, 0, 10**6)
        for name in ("initial", "initial_steps", "held_out", "test", "steps", "phase_rounds"):
            _checks.integer(name, getattr(self, name), 1, 10**6)


def phase(round_: int, config: LoopConfig = LoopConfig()) -> tuple[str, world.WorldConfig]:
    """The phase name and world of a round (rounds count from 1)."""
    round_ = _checks.integer("round", round_, 1, 10**6)
    name = PHASES[min((round_ - 1) // config.phase_rounds, len(PHASES) - 1)][0]
    return name, _phase_world(name)


def _phase_world(name):
    return dataclasses.replace(world.WorldConfig(), **dict(PHASES)[name])


def _stream_seed(seed, name):
    return 7_000_000 + 1_000 * seed + [p for p, _ in PHASES].index(name)


def _phase_scenes(name, n, offset):
    """Fixed labelled scenes of a phase: the gate's held-out set (offset 1) or the test set
    (offset 101), apart from every stream and from the book's test scenes."""
    seed = world.HELD_OUT_SEED + offset + [p for p, _ in PHASES].index(name)
    return world.render_scenes(seed, range(n), _phase_world(name))


def _photometric_error(frame0, frame1, disparity):
    """`hybrid.photometric_error` at the best of 8 motion directions and 9 global scales
    (the model gives neither: its depth is relative, and the flow's direction is the
    camera's)."""
    return min(hybrid.photometric_error(frame0, frame1, scale * disparity,
                                        np.array([np.cos(angle), np.sin(angle)]))
               for angle in np.radians(np.arange(0.0, 360.0, 45.0))
               for scale in np.geomspace(0.5, 2.0, 9))


def monitor(model: learned.DepthModel, scenes: world.Scene) -> dict:
    """The label-free signals on a batch of served scenes, and the true error for analysis.

    Returns
    -------
    dict of (N,) arrays
        ``photometric``: the photometric error of the model's depth (frame 1 warped onto
        frame 0 by the flow it implies, at the best-fitting motion);
        ``disagreement``: mean |log| ratio of the model's and the pipeline's median-scaled
        depth; ``uncertainty``: the spread of the model's log depth over the four flips of
        the input (a small test-time ensemble); ``absrel``: the true error, which the loop
        itself never uses.
    """
    depth, spread = explain.learned_uncertainty(model, scenes.frame0, scenes.frame1)
    uncertainty = spread.mean((-2, -1))
    photometric, disagreement = np.zeros(len(scenes)), np.zeros(len(scenes))
    for i in range(len(scenes)):
        result = classical.run_pipeline(scenes.frame0[i], scenes.frame1[i])
        disagreement[i] = np.abs(explain.relative_log_depth(depth[i])
                                 - explain.relative_log_depth(result.depth)).mean()
        photometric[i] = _photometric_error(scenes.frame0[i], scenes.frame1[i], 1.0 / depth[i])
    absrel = np.array([metrics.depth_metrics(depth[i], scenes.depth[i]).absrel
                       for i in range(len(scenes))])
    return {"photometric": photometric, "disagreement": disagreement,
            "uncertainty": uncertainty, "absrel": absrel}


def select(strategy: str, signals: dict, features: np.ndarray, budget: int,
           rng: np.random.Generator) -> np.ndarray:
    """Indices of ``budget`` served scenes to label.

    "random" draws them uniformly; "uncertainty", "disagreement" and "photometric" take the
    largest signal; "diversity" takes the most uncertain half of the stream (at least twice
    the budget) and covers it greedily (k-centre) in the space of ``features``, so that the batch is not a handful of
    near-identical hard scenes.
    """
    n = len(features)
    budget = _checks.integer("budget", budget, 1, n)
    if strategy == "random":
        return np.sort(rng.choice(n, budget, replace=False))
    if strategy in ("uncertainty", "disagreement", "photometric"):
        return np.sort(np.argsort(-signals[strategy], kind="stable")[:budget])
    if strategy != "diversity":
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    pool = np.argsort(-signals["uncertainty"], kind="stable")[:max(2 * budget, n // 2)]
    chosen = [pool[0]]
    distance = np.linalg.norm(features[pool] - features[pool[0]], axis=1)
    while len(chosen) < budget:
        nxt = int(np.argmax(distance))
        chosen.append(pool[nxt])
        distance = np.minimum(distance, np.linalg.norm(features[pool] - features[pool[nxt]],
                                                       axis=1))
    return np.sort(np.array(chosen))


def _features(model, scenes):
    """Per scene, the network's image-wide match profile (the mean cost volume): a
    description of how the scene matches, used for diversity."""
    frames = torch.from_numpy(np.stack([scenes.frame0, scenes.frame1], 1))
    _, scene, _ = model.net.front(frames)
    return scene[:, :, 0, 0].numpy()


def _open(db: pathlib.Path, config: LoopConfig) -> sqlite3.Connection:
    """Opens (or creates) the loop's database and checks it belongs to this configuration."""
    new = not db.exists() or db.stat().st_size == 0
    try:
        connection = sqlite3.connect(db, isolation_level=None)
        connection.execute("PRAGMA synchronous = FULL")  # a commit is on the disk
        if new:
            connection.executescript(f"BEGIN; PRAGMA application_id = {_APPLICATION_ID}; "
                                     f"PRAGMA user_version = {_SCHEMA_VERSION};"
                                     + _SCHEMA + "COMMIT;")
        elif connection.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
            raise ValueError(f"{db} is a SQLite database of another program, not a loop's")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version != _SCHEMA_VERSION:
            raise ValueError(f"{db} was made by another version of the loop (schema {version}, "
                             f"this one reads {_SCHEMA_VERSION}); use a new database path")
        saved = dict(connection.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{db} is not a loop database (corrupt or another file): {error}")
    wanted = json.dumps(dataclasses.asdict(config), sort_keys=True)
    if saved and saved.get("config") != wanted:
        raise ValueError(f"{db} was created with another configuration ({saved.get('config')});"
                         " use a new database path for a different loop")
    return connection


def _checkpoints(db):
    return db.with_name(db.name + ".models")


def _save_model(model, path) -> str:
    """Writes a checkpoint, flushed to the disk, and returns its SHA-256 (which the database
    keeps, to check the file on resume)."""
    data = cache.to_bytes(learned.save, model)
    cache.write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _intact(path: pathlib.Path, digest: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest


def _first_model(config, progress=False):
    return experiments.trained_model(config.initial, config.seed, config=_initial_config(config),
                                     progress=progress)


def _repair(connection, db, config) -> None:
    """Makes a database safe to resume after a crash.

    Removes the temporary files of writes that a crash cut short, then checks every checkpoint
    the database names against its SHA-256. A damaged or missing first model is written again
    from the model cache (or, if that holds another model, the loop stops with an error). From
    the first round whose checkpoint is damaged or missing on, the rounds are rolled back, so
    that the loop computes them again."""
    cache.remove_stale(_checkpoints(db))
    cache.remove_stale(db.parent, prefix=db.name)
    rows = connection.execute("SELECT round, path, sha256 FROM models ORDER BY id").fetchall()
    damaged = sorted({round_ for round_, path, digest in rows
                      if not _intact(_checkpoints(db) / path, digest)})
    if damaged and damaged[0] == 0:
        _, path, digest = rows[0]
        if _save_model(_first_model(config), _checkpoints(db) / path) != digest:
            raise ValueError(f"the first model's checkpoint {path} of {db} is damaged, and the "
                             "model cache holds another first model: use a new database path")
        warnings.warn(f"{db}: the first model's checkpoint was damaged or missing and is "
                      "written again from the model cache", RuntimeWarning, stacklevel=3)
        damaged = damaged[1:]
    if not damaged:
        return
    first = damaged[0]
    last = connection.execute("SELECT MAX(round) FROM models").fetchone()[0]
    doomed = [path for round_, path, _ in rows if round_ >= first]
    connection.execute("BEGIN IMMEDIATE")
    for table in ("rounds", "deployments", "models", "labels", "scenes"):
        connection.execute(f"DELETE FROM {table} WHERE round >= ?", (first,))
    connection.execute("COMMIT")
    for path in doomed:
        (_checkpoints(db) / path).unlink(missing_ok=True)
    warnings.warn(f"{db}: the checkpoint of round {first} is damaged or missing; rounds "
                  f"{first} to {last} are computed again", RuntimeWarning, stacklevel=3)


def _score(model, scenes):
    return float(np.mean([m.absrel for m in learned.evaluate(model, scenes)]))


def _start(connection, db, config, progress):
    """Creates the first champion (round 0) in an empty database."""
    path = _checkpoints(db) / "round-000.pt"
    digest = _save_model(_first_model(config, progress), path)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("INSERT INTO meta VALUES ('config', ?)",
                       (json.dumps(dataclasses.asdict(config), sort_keys=True),))
    connection.execute("INSERT INTO models VALUES (0, 0, ?, NULL, '{}', ?)", (path.name, digest))
    connection.execute("INSERT INTO deployments VALUES (0, 0)")
    connection.execute("COMMIT")


def _labelled_scenes(connection):
    rows = connection.execute("SELECT s.phase, s.world_seed, s.idx FROM labels l "
                              "JOIN scenes s ON s.id = l.scene ORDER BY s.id").fetchall()
    batches = []
    for name in dict.fromkeys(r[0] for r in rows):
        for seed in dict.fromkeys(r[1] for r in rows if r[0] == name):
            idx = [r[2] for r in rows if r[0] == name and r[1] == seed]
            batches.append(world.render_scenes(seed, idx, _phase_world(name)))
    return batches


def _round(connection, db, config, round_, prices, frozen, progress):
    """Runs and commits one round."""
    name, world_config = phase(round_, config)
    champion_id, path = connection.execute(
        "SELECT m.id, m.path FROM deployments d JOIN models m ON m.id = d.model "
        "ORDER BY d.round DESC LIMIT 1").fetchone()
    champion = learned.load(_checkpoints(db) / path)
    # deploy: the champion serves this round's stream
    stream_seed = _stream_seed(config.seed, name)
    first = int(connection.execute("SELECT COUNT(*) FROM scenes WHERE phase = ?",
                                   (name,)).fetchone()[0])
    served = world.render_scenes(stream_seed, range(first, first + config.stream),
                                 world_config)
    # monitor, select
    signals = monitor(champion, served)
    rng = np.random.default_rng([config.seed, round_])
    chosen = select(config.strategy, signals, _features(champion, served), config.budget, rng)
    # label (bought now, committed with the round), retrain
    # Every label bought so far, and as many of the first model's scenes (replayed so that it
    # does not forget them), so that the new labels are half of what the challenger sees.
    bought = world.render_scenes(stream_seed, [first + int(i) for i in chosen], world_config)
    earlier = _labelled_scenes(connection)
    replay = world.render_scenes(learned.TRAIN_SEED, range(min(
        config.initial, len(bought) + sum(len(b) for b in earlier))))
    dataset = learned.SceneDataset.of(replay, *earlier, bought)
    train_config = learned.TrainConfig(steps=config.steps, lr=2e-3, threads=1,
                                       seed=1000 * config.seed + round_)
    start = time.perf_counter()
    if config.retrain == "finetune":
        challenger = learned.fit(champion, dataset, train_config, progress)
    else:
        challenger = learned.fit(learned.untrained(seed=config.seed), dataset,
                                 dataclasses.replace(train_config, steps=config.initial_steps,
                                                     lr=learned.TrainConfig().lr), progress)
    seconds = time.perf_counter() - start
    # gate on the phase's fixed held-out set
    held_out = _phase_scenes(name, config.held_out, 1)
    scores = {"champion": _score(champion, held_out),
              "challenger": _score(challenger, held_out),
              "frozen": _score(frozen, held_out)}
    deployed = scores["challenger"] < scores["champion"]
    test = _phase_scenes(name, config.test, 101)
    test_scores = {"champion": _score(champion, test), "challenger": _score(challenger, test),
                   "frozen": _score(frozen, test)}
    test_scores["deployed"] = test_scores["challenger" if deployed else "champion"]
    checkpoint = _checkpoints(db) / f"round-{round_:03d}.pt"
    digest = _save_model(challenger, checkpoint)  # before the commit that references it
    correlation = {}
    for signal in ("photometric", "disagreement", "uncertainty"):
        rho = scipy.stats.spearmanr(signals[signal], signals["absrel"])[0]
        correlation[signal] = None if np.isnan(rho) else float(rho)  # None: a constant signal
    connection.execute("BEGIN IMMEDIATE")
    ids = []
    for j in range(config.stream):
        cursor = connection.execute(
            "INSERT INTO scenes(round, phase, world_seed, idx) VALUES (?, ?, ?, ?)",
            (round_, name, stream_seed, first + j))
        ids.append(cursor.lastrowid)
    connection.executemany("INSERT INTO labels VALUES (?, ?, ?)",
                           [(ids[int(i)], round_, prices.label) for i in chosen])
    model_id = connection.execute(
        "INSERT INTO models(round, path, parent, metrics, sha256) VALUES (?, ?, ?, ?, ?)",
        (round_, checkpoint.name, champion_id, json.dumps(scores), digest)).lastrowid
    connection.execute("INSERT INTO deployments VALUES (?, ?)",
                       (round_, model_id if deployed else champion_id))
    labels, cost = connection.execute("SELECT COUNT(*), SUM(cost) FROM labels").fetchone()
    record = {"round": round_, "phase": name, "labels": labels, "cost": cost,
              "deployed": bool(deployed), "gate": scores, "test": test_scores,
              "served_absrel": float(signals["absrel"].mean()),
              "retrain_seconds": round(seconds, 2),
              "signal_correlation": correlation}
    connection.execute("INSERT INTO rounds VALUES (?, ?, ?)",
                       (round_, name, json.dumps(record)))
    connection.execute("COMMIT")
    return record


def run(db, rounds: int, config: LoopConfig = LoopConfig(),
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
        Every label is charged ``prices.label``.
    progress : bool

    Returns
    -------
    list of dict
        Every committed round's record: phase, labels and cost so far, the gate's scores
        (AbsRel on the phase's held-out set of champion, challenger and the frozen first
        model), whether the challenger was deployed, the same three models' AbsRel and the
        deployed one's on the phase's test set, the served scenes' true AbsRel under the
        champion and how each monitoring signal correlates with it (Spearman), and the
        wall time of the retraining (the only field that differs between two runs).
    """
    rounds = _checks.integer("rounds", rounds, 1, 10_000)
    if not isinstance(config, LoopConfig):
        raise TypeError(f"config must be a LoopConfig, got {type(config).__name__}")
    db = pathlib.Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    connection = _open(db, config)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same numbers in a notebook, a worker or the command line
    try:
        if connection.execute("SELECT COUNT(*) FROM models").fetchone()[0] == 0:
            _start(connection, db, config, progress)
        _repair(connection, db, config)
        frozen = learned.load(_checkpoints(db) / "round-000.pt")
        done = connection.execute("SELECT COALESCE(MAX(round), 0) FROM rounds").fetchone()[0]
        for round_ in range(done + 1, rounds + 1):
            _round(connection, db, config, round_, prices, frozen, progress)
        return [json.loads(m) for (m,) in connection.execute(
            "SELECT metrics FROM rounds ORDER BY round")]
    finally:
        torch.set_num_threads(threads)
        connection.close()


def default_db(config: LoopConfig = LoopConfig()) -> pathlib.Path:
    """The database of a configuration in the model cache, named by the configuration and
    by the code that makes its numbers: `cache.code_version`'s modules, and this module,
    `explain`, `hybrid` and the `experiments` package (so a changed loop starts afresh
    instead of reading stale rounds)."""
    digest = hashlib.sha256()
    sources = [pathlib.Path(m.__file__) for m in (sys.modules[__name__], explain, hybrid)]
    sources += sorted(pathlib.Path(experiments.__file__).parent.glob("*.py"))
    for path in sources:
        digest.update(path.name.encode() + path.read_bytes())
    return cache.directory() / f"loop-{cache.cache_key(config, digest.hexdigest()[:16])}.sqlite"


def _committed(db):
    if not db.is_file():
        return 0
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return connection.execute("SELECT COUNT(*) FROM rounds").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0
    finally:
        connection.close()


def _initial_config(config):
    """The recipe of a loop's first model: the sweep's, for ``config.initial_steps`` steps."""
    return dataclasses.replace(experiments.SWEEP_CONFIG, steps=config.initial_steps)


def _files(db):
    """A loop's database and checkpoints as bytes: what a worker needs to resume it."""
    return {"db": db.read_bytes(),
            "models": {p.name: p.read_bytes() for p in sorted(_checkpoints(db).glob("*.pt"))}}


def _loop_job(config, rounds, files):
    """Worker: resumes a loop from its files (`_files`) in a scratch folder of its own, runs it
    to ``rounds`` rounds and returns its files, so that no disk is shared with the client."""
    with tempfile.TemporaryDirectory(prefix="depthlab-loop-") as folder:
        db = pathlib.Path(folder) / "loop.sqlite"
        db.write_bytes(files["db"])
        _checkpoints(db).mkdir()
        for name, data in files["models"].items():
            (_checkpoints(db) / name).write_bytes(data)
        run(db, rounds, config, progress=False)
        return _files(db)


def run_many(configs, rounds: int, progress: bool = True) -> list:
    """`run` for every configuration, each in its `default_db`, side by side.

    The loops not yet done run as jobs on the workers (`depthlab.parallel`): their first
    models are trained there first (through the model cache), the round-0 databases are made
    here, and each worker returns its loop's database and checkpoints, which are written here.
    Finished loops are read from their databases. Returns the records of each configuration,
    in order.
    """
    configs = list(configs)
    rounds = _checks.integer("rounds", rounds, 1, 10_000)
    for config in configs:
        if not isinstance(config, LoopConfig):
            raise TypeError(f"configs must be LoopConfigs, got {type(config).__name__}")
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

    def keep(i, files):  # a loop's files, as soon as it is done
        db = default_db(todo[i])
        for name, data in files["models"].items():  # before the database that names them
            cache.write_bytes(_checkpoints(db) / name, data)
        cache.write_bytes(db, files["db"])

    parallel.run(_loop_job, [(c, rounds, _files(default_db(c))) for c in todo],
                 labels=[f"{c.strategy}, seed {c.seed}" for c in todo], desc="loops",
                 progress=progress, keep=keep)
    return [run(default_db(c), rounds, c, progress=False) for c in configs]


def main(argv=None) -> int:
    """The command line: ``run --db PATH --rounds R --budget B --strategy S --seed K``."""
    parser = argparse.ArgumentParser(prog="python -m depthlab.loop",
                                     description="Run the continuous improvement loop.")
    commands = parser.add_subparsers(dest="command", required=True)
    go = commands.add_parser("run", help="run (or resume) the loop up to --rounds rounds")
    go.add_argument("--db", help="the loop's SQLite database (default: one per "
                    "configuration, in the model cache)")
    go.add_argument("--rounds", type=int, required=True, help="total rounds wanted")
    defaults = LoopConfig()
    go.add_argument("--budget", type=int, default=defaults.budget, help="labels per round")
    go.add_argument("--strategy", default=defaults.strategy, choices=STRATEGIES)
    go.add_argument("--seed", type=int, default=defaults.seed)
    go.add_argument("--retrain", default=defaults.retrain, choices=("finetune", "scratch"))
    go.add_argument("--stream", type=int, default=defaults.stream, help="scenes per round")
    go.add_argument("--steps", type=int, default=defaults.steps, help="fine-tuning steps")
    go.add_argument("--initial", type=int, default=defaults.initial,
                    help="training scenes of the first model")
    go.add_argument("--initial-steps", type=int, default=defaults.initial_steps)
    go.add_argument("--held-out", type=int, default=defaults.held_out)
    go.add_argument("--test", type=int, default=defaults.test)
    go.add_argument("--phase-rounds", type=int, default=defaults.phase_rounds,
                    help="rounds per phase of the drift")
    go.add_argument("--json", action="store_true", help="print one JSON list of the rounds")
    args = parser.parse_args(argv)
    try:
        config = LoopConfig(budget=args.budget, strategy=args.strategy, seed=args.seed,
                            stream=args.stream, initial=args.initial,
                            initial_steps=args.initial_steps, held_out=args.held_out,
                            test=args.test, retrain=args.retrain, steps=args.steps,
                            phase_rounds=args.phase_rounds)
        db = args.db or default_db(config)
        records = run(db, args.rounds, config, progress=not args.json)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(records))
    else:
        for r in records:
            gate = r["gate"]
            print(f"round {r['round']:>3} ({r['phase']}): {r['labels']} labels, cost "
                  f"{r['cost']:.0f}; held-out AbsRel champion {gate['champion']:.3f}, "
                  f"challenger {gate['challenger']:.3f}, frozen {gate['frozen']:.3f}; "
                  + ("deployed" if r["deployed"] else "rejected"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
