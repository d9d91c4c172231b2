"""One round of the loop, a function per step: deploy, monitor, select, label, retrain, gate,
and the commit that records it."""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import scipy.stats

from .. import learned, world
from .config import (PHASES, SIGNALS, _initial_config, _phase_scenes, _recipe_labels, _served,
                     phase, stream_mix)
from .policy import _classical_view, _features, _scene_scores, _watch, alarm, gate, select
from .store import _checkpoints, _labelled_scenes, _save_model

__all__ = ["Round"]


def _replay(config, share, n_labels):
    """The first model's scenes replayed beside ``n_labels`` new labels: ``share`` times as
    many, at most ``config.initial`` (a list of at most one batch)."""
    n = min(config.initial, int(round(share * n_labels)))
    return [world.render_scenes(world.TRAIN_SEED, range(n))] if n else []


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


@dataclasses.dataclass(frozen=True)
class Round:
    """One committed round: what the database keeps of it, and what `run` returns (as the
    dict `to_json` makes, with these keys in this order).

    Attributes
    ----------
    round : int
        From 1.
    phase : str
        The newest phase in the stream, whose held-out set the gate uses.
    mix : dict of str to int
        Scenes served per phase, oldest first.
    labels : int
        Labels bought so far.
    cost : dict of str to float
        ``bought`` (those labels), ``gate`` (the gate's held-out sets of the phases seen),
        ``held_out`` (the validation scenes the fine-tuning recipe was chosen on), their
        ``total``, and ``measurement``: the test sets and the served scenes' labels, which
        only the book's figures use and which are not charged to the loop.
    deployed : bool
        Whether the challenger replaced the champion.
    gate : dict of str to float
        The held-out AbsRel of ``champion``, ``challenger`` and the ``frozen`` first model.
    decision : dict
        The gate's paired statistic (`gate`).
    test : dict of str to float
        The same three models' AbsRel, and the ``deployed`` one's, on the phase's test set.
    served : dict of str to float
        The true AbsRel on the served stream of the model that served it (``deployed``: the
        champion), of the ``frozen`` first model and of motion stereo (``classical``).
    served_absrel : float
        ``served["deployed"]``.
    signals : dict of str to float
        Batch means of `SIGNALS`.
    fallback : float
        The share of scenes whose photometric error needed the brute-force search.
    alarm : dict or None
        `alarm` against the previous round; None in round 1.
    served_signals : dict of str to list
        `SIGNALS` per served scene.
    retrain_seconds : float
        The wall time of the retraining: the only field that differs between two runs.
    signal_correlation : dict of str to float or None
        Spearman's correlation of each signal with the champion's true error (None for a
        constant signal).
    """

    round: int
    phase: str
    mix: dict
    labels: int
    cost: dict
    deployed: bool
    gate: dict
    decision: dict
    test: dict
    served: dict
    served_absrel: float
    signals: dict
    fallback: float
    alarm: dict | None
    served_signals: dict
    retrain_seconds: float
    signal_correlation: dict

    def to_json(self) -> dict:
        """The round as a JSON object, the database's and `run`'s form."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class _Outcome:
    """What a round decided, before it is committed."""

    round: int
    parts: list
    chosen: np.ndarray
    champion_id: int
    challenger: learned.DepthModel
    signals: dict
    judged: dict
    seconds: float


def _deploy(connection, db):
    """The champion, the model deployed last, and its id: it serves this round's stream."""
    champion_id, path = connection.execute(
        "SELECT m.id, m.path FROM deployments d JOIN models m ON m.id = d.model "
        "ORDER BY d.round DESC LIMIT 1").fetchone()
    return champion_id, learned.load(_checkpoints(db) / path)


def _watch_all(champion, parts, reference):
    """The monitor's signals on every served scene, with the true errors of the champion and
    of motion stereo, which are kept for the record and which the loop never reads."""
    watched = [_watch(champion, p[-1], view) for p, view in zip(parts, reference["views"])]
    return {k: np.concatenate([m[k] for m in watched]) for k in watched[0]}


def _choose(config, round_, champion, parts, signals):
    """The served scenes to label: indices into the round's stream."""
    rng = np.random.default_rng([config.seed, round_])
    features = np.concatenate([_features(champion, p[-1]) for p in parts])
    return select(config.strategy, signals, features, config.budget, rng)


def _label(parts, chosen):
    """The chosen scenes with their labels (bought now, committed with the round): a batch per
    phase that has any."""
    where = [(k, j) for k, p in enumerate(parts) for j in range(len(p[-1]))]
    bought = []
    for k, (_, seed, first, world_config, _) in enumerate(parts):
        idx = [first + j for kk, j in (where[int(i)] for i in chosen) if kk == k]
        if idx:
            bought.append(world.render_scenes(seed, idx, world_config))
    return bought


def _retrain(connection, config, round_, champion, bought, progress):
    """The challenger, trained on every label bought so far and ``replay`` times as many of the
    first model's scenes (so that it does not forget them), and the training's wall time."""
    earlier = _labelled_scenes(connection)
    n_labels = sum(len(b) for b in bought + earlier)
    dataset = learned.SceneDataset.of(*_replay(config, config.replay, n_labels), *earlier,
                                      *bought)
    seed = 1000 * config.seed + round_
    start = time.perf_counter()
    if config.retrain == "finetune":
        challenger = learned.fit(champion, dataset, config=learned.TrainConfig(
            steps=config.steps, lr=config.lr, threads=1, seed=seed), progress=progress)
    else:
        challenger = learned.fit(learned.untrained(seed=config.seed), dataset,
                                 config=dataclasses.replace(_initial_config(config), seed=seed),
                                 progress=progress)
    return challenger, time.perf_counter() - start


def _judge(config, round_, champion, challenger, reference):
    """The gate: a paired test on the current phase's held-out set, and no regression on the
    earlier phases' sets; with the held-out and test scores kept for the record."""
    name, _ = phase(round_, config)
    names = [p for p, _ in PHASES]
    held = {p: _phase_scenes(p, config.held_out, 1) for p in names[:names.index(name) + 1]}
    champion_held = {p: _scene_scores(champion, s) for p, s in held.items()}
    challenger_held = {p: _scene_scores(challenger, s) for p, s in held.items()}
    decision = gate(champion_held[name], challenger_held[name],
                    earlier=[(champion_held[p].mean(), challenger_held[p].mean())
                             for p in held if p != name],
                    confidence=config.confidence, tolerance=config.tolerance,
                    seed=1000 * config.seed + round_)
    scores = {"champion": float(champion_held[name].mean()),
              "challenger": float(challenger_held[name].mean()), "frozen": reference["held"]}
    test = _phase_scenes(name, config.test, 101)
    test_scores = {k: float(_scene_scores(m, test).mean()) for k, m in
                   (("champion", champion), ("challenger", challenger))}
    test_scores["frozen"] = reference["test"]
    test_scores["deployed"] = test_scores["challenger" if decision["deploy"] else "champion"]
    return {"phase": name, "decision": decision, "gate": scores, "test": test_scores,
            "held_sets": len(held)}


def _correlation(signals):
    """Spearman's correlation of each signal with the champion's true error (None for a
    constant signal)."""
    correlation = {}
    for signal in SIGNALS:
        rho = scipy.stats.spearmanr(signals[signal], signals["absrel"])[0]
        correlation[signal] = None if np.isnan(rho) else float(rho)
    return correlation


def _commit(connection, db, config, prices, reference, outcome):
    """Writes the challenger's checkpoint, then records the round in one transaction: the
    scenes served, the labels bought, the challenger, the deployment and the `Round`."""
    round_, judged, signals = outcome.round, outcome.judged, outcome.signals
    deployed = judged["decision"]["deploy"]
    checkpoint = _checkpoints(db) / f"round-{round_:03d}.pt"
    digest = _save_model(outcome.challenger, checkpoint)  # before the commit that names it
    correlation = _correlation(signals)
    previous = connection.execute("SELECT metrics FROM rounds WHERE round = ?",
                                  (round_ - 1,)).fetchone()
    connection.execute("BEGIN IMMEDIATE")
    ids = []
    for part, seed, first, _, scenes in outcome.parts:
        for j in range(len(scenes)):
            ids.append(connection.execute(
                "INSERT INTO scenes(round, phase, world_seed, idx) VALUES (?, ?, ?, ?)",
                (round_, part, seed, first + j)).lastrowid)
    connection.executemany("INSERT INTO labels VALUES (?, ?, ?)",
                           [(ids[int(i)], round_, prices.label) for i in outcome.chosen])
    model_id = connection.execute(
        "INSERT INTO models(round, path, parent, metrics, sha256) VALUES (?, ?, ?, ?, ?)",
        (round_, checkpoint.name, outcome.champion_id, json.dumps(judged["gate"]),
         digest)).lastrowid
    connection.execute("INSERT INTO deployments VALUES (?, ?)",
                       (round_, model_id if deployed else outcome.champion_id))
    labels, bought_cost = connection.execute("SELECT COUNT(*), SUM(cost) FROM labels").fetchone()
    cost = {"bought": bought_cost, "gate": judged["held_sets"] * config.held_out * prices.label,
            "held_out": _recipe_labels(config) * prices.label}
    cost["total"] = sum(cost.values())
    # measurement, never charged to the loop: the test sets of the phases seen, and the
    # labels of every served scene, which only the book's figures use
    cost["measurement"] = (judged["held_sets"] * config.test
                           + round_ * config.stream) * prices.label
    served_signals = {s: signals[s].tolist() for s in SIGNALS}
    record = Round(
        round=round_, phase=judged["phase"], mix=dict(stream_mix(round_, config)),
        labels=labels, cost=cost, deployed=bool(deployed), gate=judged["gate"],
        decision=judged["decision"], test=judged["test"],
        served={"deployed": float(signals["absrel"].mean()),
                "frozen": float(reference["served"].mean()),
                "classical": float(signals["classical"].mean())},
        served_absrel=float(signals["absrel"].mean()),
        signals={s: float(signals[s].mean()) for s in SIGNALS},
        fallback=float(signals["fallback"].mean()),
        alarm=None if previous is None else alarm(json.loads(previous[0])["served_signals"],
                                                  served_signals),
        served_signals=served_signals, retrain_seconds=round(outcome.seconds, 2),
        signal_correlation=correlation).to_json()
    connection.execute("INSERT INTO rounds VALUES (?, ?, ?)",
                       (round_, judged["phase"], json.dumps(record)))
    connection.execute("COMMIT")
    return record


def _round(connection, db, config, round_, prices, reference, progress):
    """Runs and commits one round, given its `_reference`: a function per step."""
    champion_id, champion = _deploy(connection, db)
    parts = _served(config, round_)
    signals = _watch_all(champion, parts, reference)
    chosen = _choose(config, round_, champion, parts, signals)
    bought = _label(parts, chosen)
    challenger, seconds = _retrain(connection, config, round_, champion, bought, progress)
    judged = _judge(config, round_, champion, challenger, reference)
    return _commit(connection, db, config, prices, reference, _Outcome(
        round_, parts, chosen, champion_id, challenger, signals, judged, seconds))
