"""The continuous improvement loop: deploy, monitor, select, label, retrain, gate, redeploy.

A deployed model (the *champion*) serves a stream of unlabelled scenes from a world that
drifts over the rounds (`PHASES`, abruptly or gradually: `DRIFTS`). Each round it is monitored
without labels (`monitor`, with drift alarms between rounds: `alarm`), a batch of the stream
is chosen for labelling under a budget, the labels are bought at the price of
`experiments.CostModel`, a *challenger* is fine-tuned on every label bought so far (with the
recipe that `tune_recipe` chose on validation scenes), and a gate deploys it only if a paired
bootstrap on a fixed held-out set of the current phase says it is better and it does not
regress on the earlier phases' sets (`gate`). For the record, and never read by the loop,
each round also scores the champion, the frozen first model and the strongest classical
method (`CLASSICAL`) on the stream that was served, and the models on a separate test set.

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
(a local cluster, or a remote one), each in its own database in the model cache. The loops of
one seed and drift serve the same stream, so what the strategy cannot change is computed once
for all of them.

Command line (run from ``book/``)::

    python -m depthlab.loop run --db PATH --rounds R --budget B --strategy S --seed K --json
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import itertools
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

__all__ = ["CLASSICAL", "DRIFTS", "PHASES", "RECIPE_GRID", "RECIPE_VALIDATION", "SIGNALS", "STEPS",
           "STRATEGIES", "LoopConfig", "alarm", "default_db", "gate", "main", "monitor", "phase",
           "run", "run_many", "select", "stream_mix", "tune_recipe"]

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
_SCHEMA_VERSION = 3  # PRAGMA user_version: 3 records what each round served and the gate's test
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

#: How the world moves from one phase to the next: "abrupt" (all at once, after
#: `LoopConfig.phase_rounds` rounds) or "gradual" (the next phase's share of the stream grows
#: by ``1 / phase_rounds`` a round).
DRIFTS = ("abrupt", "gradual")

#: The label-free signals that `monitor` computes for every served scene.
SIGNALS = ("photometric", "disagreement", "uncertainty")

#: The fine-tuning recipes tried on validation scenes by `tune_recipe`: optimisation steps,
#: learning rate, and replayed scenes of the first model per label bought.
RECIPE_GRID = {"steps": (60, 150), "lr": (1e-3, 3e-3), "replay": (0.5, 1.0)}

#: Labelled validation scenes per drifted phase (and of the first phase, for forgetting) on
#: which `tune_recipe` scores each recipe; their labels are part of the loop's cost.
RECIPE_VALIDATION = 48

#: The strongest classical method of the book, as chapter 5 tunes it on validation scenes of
#: the standard world (the pipeline's parameters, then motion stereo's): the loop scores it on
#: every served stream, and the monitor measures the model's disagreement with it.
#: Chapter 7 checks that these are still `experiments.tune_classical`'s choices.
CLASSICAL = (("block_size", 7), ("contrast_threshold", 0.01), ("edges", False),
             ("interpolate", "inverse"), ("penalty", 32.0), ("ratio", 0.7), ("refine", True),
             ("threshold", 0.5))


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
        Scenes per phase in the gate's fixed, labelled held-out set.
    test : int
        Scenes per phase in a separate test set, on which champion, challenger and the frozen
        first model are scored for the record (the loop and its gate never see it).
    retrain : str
        "finetune" (the champion, trained further) or "scratch" (a fresh network, with the
        sweep's recipe), either on every label bought and ``replay`` times as many replayed
        scenes of the first model.
    steps, lr, replay : int, float, float
        The fine-tuning recipe: optimisation steps (one thread, like every training run of
        the book), learning rate, and replayed first-phase scenes per label bought (at most
        ``initial``). The defaults are `tune_recipe`'s choice.
    phase_rounds : int
        Rounds per phase of `PHASES`.
    drift : str
        One of `DRIFTS`.
    confidence : float
        The gate deploys a challenger only if a one-sided paired bootstrap at this level says
        it is better on the current phase's held-out set ...
    tolerance : float
        ... and it is not worse than the champion by more than this AbsRel on any earlier
        phase's held-out set.
    classical : tuple of (str, value) pairs
        Parameters of motion stereo and its pipeline (`classical.motion_stereo`), the
        classical method scored on the served stream.
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
    lr: float = 1e-3
    replay: float = 1.0
    phase_rounds: int = 2
    drift: str = "abrupt"
    confidence: float = 0.9
    tolerance: float = 0.01
    classical: tuple = CLASSICAL

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
        if self.drift not in DRIFTS:
            raise ValueError(f"drift must be one of {DRIFTS}, got {self.drift!r}")
        _checks.integer("seed", self.seed, 0, 10**6)
        for name in ("initial", "initial_steps", "held_out", "test", "steps", "phase_rounds"):
            _checks.integer(name, getattr(self, name), 1, 10**6)
        _checks.number("lr", self.lr, 1e-6, 1.0)
        _checks.number("replay", self.replay, 0.0, 100.0)
        _checks.number("confidence", self.confidence, 0.5, 0.999)
        _checks.number("tolerance", self.tolerance, 0.0, 1.0)
        if (not isinstance(self.classical, tuple)
                or not all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                           for p in self.classical)):
            raise TypeError("classical must be a tuple of (name, value) pairs of "
                            f"classical.motion_stereo's parameters, got {self.classical!r}")


def stream_mix(round_: int, config: LoopConfig = LoopConfig()) -> tuple:
    """The phases of a round's stream, as ``(phase name, scenes)`` pairs, oldest first.

    Parameters
    ----------
    round_ : int
        The round, from 1.
    config : LoopConfig
        The loop's settings (``stream``, ``phase_rounds`` and ``drift`` matter).

    Returns
    -------
    tuple of (str, int)
        One pair for a single phase; two while a gradual drift mixes two phases. The scenes
        add up to ``config.stream``.
    """
    round_ = _checks.integer("round", round_, 1, 10**6)
    step, within = divmod(round_ - 1, config.phase_rounds)
    last = len(PHASES) - 1
    if config.drift == "abrupt" or step >= last:
        return ((PHASES[min(step, last)][0], config.stream),)
    newer = int(round(config.stream * within / config.phase_rounds))
    return tuple((PHASES[step + k][0], n) for k, n in enumerate((config.stream - newer, newer))
                 if n > 0)


def phase(round_: int, config: LoopConfig = LoopConfig()) -> tuple[str, world.WorldConfig]:
    """The newest phase in a round's stream (the one its gate tests on) and its world.

    Parameters
    ----------
    round_ : int
        The round, from 1.
    config : LoopConfig
        The loop's settings.

    Returns
    -------
    tuple of (str, world.WorldConfig)
        The phase's name in `PHASES` and the standard world with its changes.
    """
    name = stream_mix(round_, config)[-1][0]
    return name, _phase_world(name)


def _phase_world(name):
    return dataclasses.replace(world.WorldConfig(), **dict(PHASES)[name])


def _stream_seed(seed, name):
    return 7_000_000 + 1_000 * seed + [p for p, _ in PHASES].index(name)


def _phase_scenes(name, n, offset):
    """Fixed labelled scenes of a phase, apart from every stream and from the book's test
    scenes: the gate's held-out set (offset 1), the test set (offset 101), and the recipe's
    validation scenes (201) and labels (301)."""
    seed = world.HELD_OUT_SEED + offset + [p for p, _ in PHASES].index(name)
    return world.render_scenes(seed, range(n), _phase_world(name))


def _split_classical(params):
    params = dict(params)
    stereo = {k: params.pop(k) for k in experiments.STEREO_GRID if k in params}
    return params, stereo


def _motion(result):
    """What the photometric error needs of a `classical.run_pipeline` result: the unit RANSAC
    direction, and the inliers' points and flow; None when the pipeline found no direction."""
    if result.reliable and result.fit.direction is not None and len(result.points):
        return (result.fit.direction / np.linalg.norm(result.fit.direction), result.points,
                result.flow)
    return None


def _photometric_error(frame0, frame1, disparity, motion):
    """`hybrid.photometric_error` of a disparity map known up to scale: along the pipeline's
    RANSAC direction, at the scale that matches its inliers' flow (the median ratio), or,
    when the pipeline finds no direction (``motion`` is None, see `_motion`), at the best of 8
    directions and 9 global scales. Returns the error and whether that brute-force fallback
    was used."""
    if motion is not None:
        direction, points, flow = motion
        h, w = disparity.shape
        x = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
        scale = np.median(np.linalg.norm(flow, axis=1) / disparity[y, x])
        return hybrid.photometric_error(frame0, frame1, scale * disparity, direction), False
    return min(hybrid.photometric_error(frame0, frame1, scale * disparity,
                                        np.array([np.cos(angle), np.sin(angle)]))
               for angle in np.radians(np.arange(0.0, 360.0, 45.0))
               for scale in np.geomspace(0.5, 2.0, 9)), True


def _classical_view(scenes, classical_params, world_config):
    """The part of `monitor` that no model changes, on a batch of scenes: per scene, the
    pipeline's motion (`_motion`), motion stereo's depth and its true AbsRel."""
    pipeline, stereo = _split_classical(classical_params)
    search = experiments.comparison._stereo_range(world_config)
    motions, depths = [], []
    for a, b in zip(scenes.frame0, scenes.frame1):
        motions.append(_motion(classical.run_pipeline(a, b, **pipeline)))
        depths.append(classical.motion_stereo(a, b, max_disparity=search, **stereo, **pipeline))
    return {"motion": motions, "depth": np.stack(depths),
            "absrel": np.array([metrics.depth_metrics(d, t).absrel
                                for d, t in zip(depths, scenes.depth)], float)}


def _watch(model, scenes, view):
    """`monitor`'s signals of ``model`` on ``scenes``, given their `_classical_view`."""
    depth, spread = explain.learned_uncertainty(model, scenes.frame0, scenes.frame1)
    n = len(scenes)
    out = {k: np.zeros(n) for k in ("photometric", "disagreement", "absrel")}
    out["classical"] = view["absrel"]
    out["uncertainty"], out["fallback"] = spread.mean((-2, -1)), np.zeros(n, bool)
    for i in range(n):
        a, b = scenes.frame0[i], scenes.frame1[i]
        out["disagreement"][i] = np.abs(explain.relative_log_depth(depth[i])
                                        - explain.relative_log_depth(view["depth"][i])).mean()
        out["photometric"][i], out["fallback"][i] = _photometric_error(a, b, 1.0 / depth[i],
                                                                       view["motion"][i])
        out["absrel"][i] = metrics.depth_metrics(depth[i], scenes.depth[i]).absrel
    return out


def monitor(model: learned.DepthModel, scenes: world.Scene,
            *, classical_params: tuple = CLASSICAL,
            world_config: world.WorldConfig = world.WorldConfig()) -> dict:
    """The label-free signals on a batch of served scenes, and the true errors for analysis.

    Parameters
    ----------
    model : learned.DepthModel
    scenes : world.Scene
        A batch from `world.render_scenes`.
    classical_params : tuple of (name, value) pairs
        Motion stereo's parameters (see `LoopConfig.classical`).
    world_config : world.WorldConfig
        The scenes' world (motion stereo searches up to its largest disparity).

    Returns
    -------
    dict of (N,) arrays
        ``photometric``: the photometric error of the model's depth (frame 1 warped onto
        frame 0 by the flow it implies, along the pipeline's motion direction, at the scale of
        its inliers); ``fallback``: True where the pipeline found no direction and the
        photometric error took the best of a brute-force search instead;
        ``disagreement``: mean |log| ratio of the model's and motion stereo's median-scaled
        depth; ``uncertainty``: the spread of the model's log depth over the four flips of
        the input (a small test-time ensemble). For analysis only (the loop never reads
        them): ``absrel``, the model's true error, and ``classical``, motion stereo's.
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    return _watch(model, scenes, _classical_view(scenes, classical_params, world_config))


def gate(champion: np.ndarray, challenger: np.ndarray, *, earlier=(), confidence: float = 0.9,
         tolerance: float = 0.01, seed: int = 0) -> dict:
    """The gate's decision: deploy the challenger only if it is better on the current phase's
    held-out scenes and no worse on the earlier phases'.

    Parameters
    ----------
    champion, challenger : (N,) arrays
        Per-scene AbsRel of both models on the same held-out scenes of the current phase.
    earlier : sequence of (float, float)
        Champion's and challenger's mean AbsRel on each earlier phase's held-out set.
    confidence : float
        Level of the one-sided paired bootstrap interval (percentile, 2000 resamples) of the
        mean gain (champion minus challenger), whose lower end must be above 0.
    tolerance : float
        The largest regression (challenger minus champion) allowed on an earlier phase.
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    dict
        ``gain`` (mean, > 0 is better), ``lower`` (the interval's lower end), ``regression``
        (the largest on an earlier phase; 0 without any), ``deploy`` (bool).
    """
    champion, challenger = (np.asarray(v, float) for v in (champion, challenger))
    if champion.ndim != 1 or champion.shape != challenger.shape or len(champion) < 2:
        raise ValueError("champion and challenger must be per-scene scores on the same "
                         f"(N,) held-out scenes, N >= 2; got shapes {champion.shape} and "
                         f"{challenger.shape}")
    if not (np.isfinite(champion).all() and np.isfinite(challenger).all()):
        raise ValueError("champion and challenger scores must be finite")
    gain = champion - challenger
    if np.ptp(gain) == 0:  # no spread to resample: the interval is the value itself
        lower = float(gain[0])
    else:
        lower = float(scipy.stats.bootstrap(
            (gain,), np.mean, n_resamples=2000, confidence_level=confidence,
            alternative="greater", method="percentile",
            rng=np.random.default_rng(seed)).confidence_interval.low)
    regression = max([float(new - old) for old, new in earlier], default=0.0)
    return {"gain": float(gain.mean()), "lower": lower, "regression": regression,
            "deploy": bool(lower > 0 and regression <= tolerance)}


def alarm(previous: dict, current: dict) -> dict:
    """Drift alarms from two consecutive served batches: per signal of `SIGNALS`, the
    two-sample Kolmogorov-Smirnov statistic between the batches (0 for the same
    distribution, 1 for disjoint ones; two-sided, so a signal that falls counts as much as one
    that rises) and its p-value.

    Parameters
    ----------
    previous, current : dict
        The two batches' signals: each name of `SIGNALS` to per-scene values (as `monitor`
        returns them, or a round's ``served_signals``). Non-finite values are left out.

    Returns
    -------
    dict
        Signal name to ``{"ks": statistic, "p": p-value}``, two floats.
    """
    out = {}
    for signal in SIGNALS:
        a, b = (np.asarray(batch[signal], float) for batch in (previous, current))
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        test = scipy.stats.ks_2samp(a, b)
        out[signal] = {"ks": float(test.statistic), "p": float(test.pvalue)}
    return out


def select(strategy: str, signals: dict, features: np.ndarray, budget: int,
           rng: np.random.Generator) -> np.ndarray:
    """Indices of ``budget`` served scenes to label.

    "random" draws them uniformly; "uncertainty", "disagreement" and "photometric" take the
    largest signal; "diversity" takes the most uncertain half of the stream (at least twice
    the budget) and covers it greedily (k-centre) in the space of ``features``, so that the
    batch is not a handful of near-identical hard scenes.

    Parameters
    ----------
    strategy : str
        One of `STRATEGIES`.
    signals : dict
        `monitor`'s (N,) arrays of the served scenes, by signal name.
    features : (N, D) array
        A description of each served scene, for "diversity".
    budget : int
        Scenes to label, from 1 to N.
    rng : numpy.random.Generator
        Draws the "random" choice.

    Returns
    -------
    (budget,) int array
        The chosen indices, in increasing order.
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
    return experiments.trained_model(config.initial, seed=config.seed, config=_initial_config(config),
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


def _scene_scores(model, scenes):
    """Per-scene AbsRel of a model on a batch of scenes."""
    return np.array([m.absrel for m in learned.evaluate(model, scenes)])


def _replay(config, share, n_labels):
    """The first model's scenes replayed beside ``n_labels`` new labels: ``share`` times as
    many, at most ``config.initial`` (a list of at most one batch)."""
    n = min(config.initial, int(round(share * n_labels)))
    return [world.render_scenes(learned.TRAIN_SEED, range(n))] if n else []


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


def _served(config, round_):
    """The scenes a round serves: ``(phase, stream seed, first index, world, scenes)`` for each
    phase of its mix, each phase's stream going on where the earlier rounds left it."""
    parts = []
    for name, n in stream_mix(round_, config):
        first = sum(m for r in range(1, round_) for p, m in stream_mix(r, config) if p == name)
        seed, world_config = _stream_seed(config.seed, name), _phase_world(name)
        parts.append((name, seed, first, world_config,
                      world.render_scenes(seed, range(first, first + n), world_config)))
    return parts


#: The settings that decide a round's `_reference`: loops that agree on them (the strategies
#: of one seed and drift) share it.
_REFERENCE_FIELDS = ("seed", "stream", "initial", "initial_steps", "held_out", "test",
                     "phase_rounds", "drift", "classical")


def _reference(config, round_, frozen):
    """What a round measures that the loop's choices cannot change: the `_classical_view` of
    each phase's served scenes, and the frozen first model's AbsRel on the served scenes
    (per scene) and on the newest phase's held-out and test sets (means)."""
    name, _ = phase(round_, config)
    parts = _served(config, round_)
    return {"views": [_classical_view(p[-1], config.classical, p[3]) for p in parts],
            "served": np.concatenate([_scene_scores(frozen, p[-1]) for p in parts]),
            "held": float(_scene_scores(frozen, _phase_scenes(name, config.held_out, 1)).mean()),
            "test": float(_scene_scores(frozen, _phase_scenes(name, config.test, 101)).mean())}


def _round(connection, db, config, round_, prices, reference, progress):
    """Runs and commits one round, given its `_reference`."""
    champion_id, path = connection.execute(
        "SELECT m.id, m.path FROM deployments d JOIN models m ON m.id = d.model "
        "ORDER BY d.round DESC LIMIT 1").fetchone()
    champion = learned.load(_checkpoints(db) / path)
    # deploy: the champion serves this round's stream, a batch per phase in it
    parts = _served(config, round_)
    # monitor (the true errors of the champion, the frozen model and motion stereo are kept
    # for the record; the loop never reads them), select
    watched = [_watch(champion, p[-1], view) for p, view in zip(parts, reference["views"])]
    signals = {k: np.concatenate([m[k] for m in watched]) for k in watched[0]}
    rng = np.random.default_rng([config.seed, round_])
    features = np.concatenate([_features(champion, p[-1]) for p in parts])
    chosen = select(config.strategy, signals, features, config.budget, rng)
    where = [(k, j) for k, p in enumerate(parts) for j in range(len(p[-1]))]
    # label (bought now, committed with the round), retrain on every label bought so far and
    # ``replay`` times as many of the first model's scenes (so that it does not forget them)
    bought = []
    for k, (_, seed, first, world_config, _) in enumerate(parts):
        idx = [first + j for kk, j in (where[int(i)] for i in chosen) if kk == k]
        if idx:
            bought.append(world.render_scenes(seed, idx, world_config))
    earlier = _labelled_scenes(connection)
    n_labels = sum(len(b) for b in bought + earlier)
    dataset = learned.SceneDataset.of(*_replay(config, config.replay, n_labels), *earlier,
                                      *bought)
    start = time.perf_counter()
    if config.retrain == "finetune":
        challenger = learned.fit(champion, dataset, config=learned.TrainConfig(
            steps=config.steps, lr=config.lr, threads=1, seed=1000 * config.seed + round_),
            progress=progress)
    else:
        challenger = learned.fit(learned.untrained(seed=config.seed), dataset,
                                 config=dataclasses.replace(_initial_config(config),
                                                     seed=1000 * config.seed + round_),
                                 progress=progress)
    seconds = time.perf_counter() - start
    # gate: a paired test on the current phase's held-out set, no regression on the earlier
    # phases' sets
    name, world_config = phase(round_, config)
    names = [p for p, _ in PHASES]
    held = {p: _phase_scenes(p, config.held_out, 1) for p in names[:names.index(name) + 1]}
    champion_held = {p: _scene_scores(champion, s) for p, s in held.items()}
    challenger_held = {p: _scene_scores(challenger, s) for p, s in held.items()}
    decision = gate(champion_held[name], challenger_held[name],
                    earlier=[(champion_held[p].mean(), challenger_held[p].mean())
                     for p in held if p != name],
                    confidence=config.confidence, tolerance=config.tolerance, seed=1000 * config.seed + round_)
    deployed = decision["deploy"]
    scores = {"champion": float(champion_held[name].mean()),
              "challenger": float(challenger_held[name].mean()), "frozen": reference["held"]}
    test = _phase_scenes(name, config.test, 101)
    test_scores = {k: float(_scene_scores(m, test).mean()) for k, m in
                   (("champion", champion), ("challenger", challenger))}
    test_scores["frozen"] = reference["test"]
    test_scores["deployed"] = test_scores["challenger" if deployed else "champion"]
    checkpoint = _checkpoints(db) / f"round-{round_:03d}.pt"
    digest = _save_model(challenger, checkpoint)  # before the commit that references it
    correlation = {}
    for signal in SIGNALS:
        rho = scipy.stats.spearmanr(signals[signal], signals["absrel"])[0]
        correlation[signal] = None if np.isnan(rho) else float(rho)  # None: a constant signal
    previous = connection.execute("SELECT metrics FROM rounds WHERE round = ?",
                                  (round_ - 1,)).fetchone()
    connection.execute("BEGIN IMMEDIATE")
    ids = []
    for part, seed, first, _, scenes in parts:
        for j in range(len(scenes)):
            ids.append(connection.execute(
                "INSERT INTO scenes(round, phase, world_seed, idx) VALUES (?, ?, ?, ?)",
                (round_, part, seed, first + j)).lastrowid)
    connection.executemany("INSERT INTO labels VALUES (?, ?, ?)",
                           [(ids[int(i)], round_, prices.label) for i in chosen])
    model_id = connection.execute(
        "INSERT INTO models(round, path, parent, metrics, sha256) VALUES (?, ?, ?, ?, ?)",
        (round_, checkpoint.name, champion_id, json.dumps(scores), digest)).lastrowid
    connection.execute("INSERT INTO deployments VALUES (?, ?)",
                       (round_, model_id if deployed else champion_id))
    labels, bought_cost = connection.execute("SELECT COUNT(*), SUM(cost) FROM labels").fetchone()
    cost = {"bought": bought_cost, "gate": len(held) * config.held_out * prices.label,
            "held_out": _recipe_labels(config) * prices.label}
    cost["total"] = sum(cost.values())
    # measurement, never charged to the loop: the test sets of the phases seen, and the
    # labels of every served scene, which only the book's figures use
    cost["measurement"] = (len(held) * config.test + round_ * config.stream) * prices.label
    served_signals = {s: signals[s].tolist() for s in SIGNALS}
    record = {"round": round_, "phase": name,
              "mix": {p: n for p, n in stream_mix(round_, config)},
              "labels": labels, "cost": cost,
              "deployed": bool(deployed), "gate": scores, "decision": decision,
              "test": test_scores,
              "served": {"deployed": float(signals["absrel"].mean()),
                         "frozen": float(reference["served"].mean()),
                         "classical": float(signals["classical"].mean())},
              "served_absrel": float(signals["absrel"].mean()),
              "signals": {s: float(signals[s].mean()) for s in SIGNALS},
              "fallback": float(signals["fallback"].mean()),
              "alarm": None if previous is None else alarm(
                  json.loads(previous[0])["served_signals"], served_signals),
              "served_signals": served_signals,
              "retrain_seconds": round(seconds, 2),
              "signal_correlation": correlation}
    connection.execute("INSERT INTO rounds VALUES (?, ?, ?)",
                       (round_, name, json.dumps(record)))
    connection.execute("COMMIT")
    return record


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
        Every committed round's record:

        - ``phase`` (the newest in the stream, whose held-out set the gate uses) and ``mix``
          (scenes served per phase);
        - ``served``: the true AbsRel on the served stream of the model that served it
          (``deployed``, the champion), of the frozen first model and of motion stereo
          (``classical``); ``served_absrel`` is the first of these;
        - ``labels`` bought so far and ``cost``: ``bought`` (those labels), ``gate`` (the
          gate's held-out sets of the phases seen), ``held_out`` (the validation scenes the
          fine-tuning recipe was chosen on), their ``total``, and ``measurement``: the test
          sets and the served scenes' labels, which only the book's figures use and which
          are not charged to the loop;
        - ``gate``: the held-out AbsRel of champion, challenger and the frozen model;
          ``decision``: the gate's paired statistic (`gate`); ``deployed``;
        - ``test``: the same three models' AbsRel and the deployed one's on the phase's
          test set;
        - ``signals`` (batch means of `SIGNALS`), ``served_signals`` (per scene),
          ``fallback`` (the share of scenes whose photometric error needed the brute-force
          search), ``alarm`` (`alarm` against the previous round; None in round 1) and
          ``signal_correlation`` (Spearman, per signal, with the champion's true error);
        - ``retrain_seconds``: the wall time of the retraining (the only field that differs
          between two runs).
    """
    rounds = _checks.integer("rounds", rounds, 1, 10_000)
    if not isinstance(config, LoopConfig):
        raise TypeError(f"config must be a LoopConfig, got {type(config).__name__}")
    return _run(pathlib.Path(db), rounds, config, prices, progress)


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


def _code_digest() -> str:
    """The code that makes the loop's numbers: `cache.code_version`'s modules, and this
    module, `explain`, `hybrid` and the `experiments` package."""
    sources = [pathlib.Path(m.__file__) for m in (sys.modules[__name__], explain, hybrid)]
    return cache.source_digest(sources + sorted(pathlib.Path(experiments.__file__).parent
                                                .glob("*.py")))


def default_db(config: LoopConfig = LoopConfig()) -> pathlib.Path:
    """The database of a configuration in the model cache, named by the configuration and
    by the code that makes its numbers (`_code_digest`), so that a changed loop starts afresh
    instead of reading stale rounds.

    Parameters
    ----------
    config : LoopConfig
        The loop's settings.

    Returns
    -------
    pathlib.Path
        The database's path (the file may not exist yet).
    """
    return cache.directory() / f"loop-{cache.cache_key(config, _code_digest())}.sqlite"


def _recipe_labels(config) -> int:
    """Labelled validation scenes that `tune_recipe` uses: ``budget`` to fine-tune on and
    `RECIPE_VALIDATION` to score on per drifted phase, and `RECIPE_VALIDATION` of the first
    phase (to measure forgetting)."""
    return (len(PHASES) - 1) * (config.budget + RECIPE_VALIDATION) + RECIPE_VALIDATION


def _recipe_job(model, config, recipe, name):
    """Worker: ``model`` fine-tuned with ``recipe`` on ``config.budget`` labelled validation
    scenes of the phase ``name`` and the replay; its mean AbsRel on validation scenes of that
    phase and of the first (None: the model as it is)."""
    torch.set_num_threads(1)
    if recipe is not None:
        labelled = _phase_scenes(name, config.budget, 301)
        model = learned.fit(model, learned.SceneDataset.of(
            *_replay(config, recipe["replay"], config.budget), labelled), config=learned.TrainConfig(
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
    if not isinstance(config, LoopConfig):
        raise TypeError(f"config must be a LoopConfig, got {type(config).__name__}")
    path = cache.directory() / "recipe-{}.json".format(cache.cache_key(
        config.seed, config.budget, config.initial, config.initial_steps, RECIPE_GRID,
        RECIPE_VALIDATION, _code_digest()))
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


def main(argv=None) -> int:
    """The command line: ``run --db PATH --rounds R --budget B --strategy S --seed K``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program's name; None reads them from ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0. Bad arguments or settings exit through argparse (status 2) instead.
    """
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
    go.add_argument("--drift", default=defaults.drift, choices=DRIFTS)
    go.add_argument("--lr", type=float, default=defaults.lr, help="fine-tuning learning rate")
    go.add_argument("--replay", type=float, default=defaults.replay,
                    help="replayed first-phase scenes per label bought")
    go.add_argument("--confidence", type=float, default=defaults.confidence,
                    help="the gate's one-sided bootstrap level")
    go.add_argument("--tolerance", type=float, default=defaults.tolerance,
                    help="the largest regression (AbsRel) allowed on an earlier phase")
    go.add_argument("--json", action="store_true", help="print one JSON list of the rounds")
    args = parser.parse_args(argv)
    try:
        config = LoopConfig(budget=args.budget, strategy=args.strategy, seed=args.seed,
                            stream=args.stream, initial=args.initial,
                            initial_steps=args.initial_steps, held_out=args.held_out,
                            test=args.test, retrain=args.retrain, steps=args.steps,
                            lr=args.lr, replay=args.replay, phase_rounds=args.phase_rounds,
                            drift=args.drift, confidence=args.confidence,
                            tolerance=args.tolerance)
        db = args.db or default_db(config)
        records = run(db, args.rounds, config=config, progress=not args.json)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(records))
    else:
        for r in records:
            served, decision = r["served"], r["decision"]
            print(f"round {r['round']:>3} ({r['phase']}): served AbsRel deployed "
                  f"{served['deployed']:.3f}, frozen {served['frozen']:.3f}, classical "
                  f"{served['classical']:.3f}; {r['labels']} labels, cost "
                  f"{r['cost']['total']:.0f}; gate gain {decision['gain']:+.3f} (lower "
                  f"{decision['lower']:+.3f}): " + ("deployed" if r["deployed"] else "rejected"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
