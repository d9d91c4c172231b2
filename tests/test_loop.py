"""Tests of depthlab.loop: strategies, input checks, and crash-safe resumption."""
import dataclasses
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from depthlab import classical, experiments, loop, parallel, world
from depthlab.loop import config as settings
from depthlab.loop import policy, runner, store

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"
# A loop small enough for a test: a few seconds per run, most of it starting Python.
# Motion stereo with a small block instead of the tuned method, so that no test tunes it.
SMALL_STEREO = {"block_size": 5}
TINY = ["--budget", "2", "--stream", "8", "--initial", "8", "--initial-steps", "10",
        "--held-out", "6", "--test", "6", "--steps", "5", "--seed", "3",
        "--classical", json.dumps(SMALL_STEREO)]
TINY_CONFIG = loop.LoopConfig(budget=2, stream=8, initial=8, initial_steps=10, held_out=6,
                              test=6, steps=5, seed=3, classical=tuple(SMALL_STEREO.items()))


def _command(db, rounds, *extra):
    return [sys.executable, "-m", "depthlab.loop", "run", "--db", str(db), "--rounds",
            str(rounds), *TINY, *extra]


def _environment(tmp_path):
    return {**os.environ, "DEPTHLAB_CACHE": str(tmp_path / "cache")}


def test_bad_settings_are_refused_with_the_setting_named(tmp_path):
    with pytest.raises(ValueError, match="budget"):
        loop.LoopConfig(budget=65, stream=64)
    with pytest.raises(ValueError, match="strategy"):
        loop.LoopConfig(strategy="clever")
    with pytest.raises(ValueError, match="retrain"):
        loop.LoopConfig(retrain="sometimes")
    with pytest.raises(ValueError, match="drift"):
        loop.LoopConfig(drift="sideways")
    with pytest.raises(ValueError, match="confidence"):
        loop.LoopConfig(confidence=1.5)
    with pytest.raises(TypeError, match="classical"):
        loop.LoopConfig(classical={"ratio": 0.7})
    with pytest.raises(TypeError, match="LoopConfig"):
        loop.tune_recipe({"budget": 2})
    for rounds in (0, -3):
        with pytest.raises(ValueError, match="rounds"):
            loop.run(tmp_path / "loop.sqlite", rounds, config=TINY_CONFIG)
    with pytest.raises(TypeError, match="config"):
        loop.run(tmp_path / "loop.sqlite", 1, config={"budget": 2})


@pytest.mark.slow
def test_the_command_line_names_bad_arguments(tmp_path):
    for extra, word in ((["--budget", "9"], "budget"), (["--strategy", "clever"], "strategy"),
                        (["--rounds", "0"], "rounds")):
        result = subprocess.run(_command(tmp_path / "loop.sqlite", 1, *extra), cwd=BOOK,
                                capture_output=True, text=True, env=_environment(tmp_path))
        assert result.returncode == 2 and word in result.stderr, result.stderr


def test_corrupt_foreign_and_mismatched_databases_are_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all, just some bytes" * 100)
    with pytest.raises(ValueError, match="not a loop database"):
        loop.run(junk, 1, config=TINY_CONFIG)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE shopping(item TEXT)")
    with pytest.raises(ValueError, match="another program"):
        loop.run(foreign, 1, config=TINY_CONFIG)


def test_strategies_choose_distinct_scenes_within_the_budget():
    rng = np.random.default_rng(0)
    signals = {name: rng.random(30) for name in ("uncertainty", "disagreement", "photometric")}
    features = rng.random((30, 5))
    for strategy in loop.STRATEGIES:
        chosen = loop.select(strategy, signals, features, 7, np.random.default_rng(1))
        assert len(set(chosen.tolist())) == 7 and chosen.min() >= 0 and chosen.max() < 30
    top = loop.select("disagreement", signals, features, 3, rng)
    assert set(top) == set(np.argsort(-signals["disagreement"])[:3])
    with pytest.raises(ValueError, match="budget"):
        loop.select("random", signals, features, 31, rng)


def test_the_drift_serves_every_phase_in_order_abruptly_or_gradually():
    names = [name for name, _ in loop.PHASES]
    abrupt = loop.LoopConfig(phase_rounds=2)
    assert [loop.stream_mix(r, abrupt) for r in (1, 2, 3, 8, 20)] == [
        ((names[0], 48),), ((names[0], 48),), ((names[1], 48),), ((names[3], 48),),
        ((names[3], 48),)]
    gradual = dataclasses.replace(abrupt, drift="gradual", phase_rounds=4)
    mixes = [loop.stream_mix(r, gradual) for r in range(1, 20)]
    assert all(sum(n for _, n in mix) == 48 for mix in mixes)
    assert mixes[:3] == [((names[0], 48),), ((names[0], 36), (names[1], 12)),
                         ((names[0], 24), (names[1], 24))]
    newest = [names.index(mix[-1][0]) for mix in mixes]
    assert newest == sorted(newest) and newest[-1] == len(names) - 1
    assert loop.phase(2, gradual)[0] == names[1]  # the gate tests on the newest phase


def test_the_gate_deploys_only_a_challenger_that_is_better_and_does_not_regress():
    rng = np.random.default_rng(0)
    champion = 0.3 + 0.05 * rng.random(48)
    better, noise = champion - 0.02, champion + 0.01 * rng.standard_normal(48)
    assert loop.gate(champion, better)["deploy"]
    assert loop.gate(champion, better)["lower"] == pytest.approx(0.02)
    assert not loop.gate(champion, champion)["deploy"]  # a tie stays out
    verdict = loop.gate(champion, noise)
    assert verdict["lower"] < verdict["gain"] and not verdict["deploy"]
    blocked = loop.gate(champion, better, earlier=[(0.30, 0.30), (0.28, 0.30)], tolerance=0.01)
    assert blocked["regression"] == pytest.approx(0.02) and not blocked["deploy"]
    assert loop.gate(champion, better, earlier=[(0.28, 0.285)], tolerance=0.01)["deploy"]
    for bad in (champion[:5], champion[:, None], np.full(48, np.nan)):
        with pytest.raises(ValueError, match="champion and challenger"):
            loop.gate(champion, bad)


def test_the_alarm_compares_consecutive_batches_two_sided():
    low = {s: np.linspace(0, 1, 48) for s in loop.SIGNALS}
    high = {s: np.linspace(2, 3, 48) for s in loop.SIGNALS}
    assert all(v["ks"] == 0 and v["p"] == 1 for v in loop.alarm(low, low).values())
    up, down = loop.alarm(low, high), loop.alarm(high, low)
    assert all(up[s]["ks"] == down[s]["ks"] == 1 and up[s]["p"] < 1e-6 for s in loop.SIGNALS)


def test_the_photometric_signal_follows_the_pipelines_motion_and_says_when_it_cannot():
    scenes = world.render_scenes(5, range(4))
    for i in range(len(scenes)):
        a, b = scenes.frame0[i], scenes.frame1[i]
        result = classical.run_pipeline(a, b)
        assert result.reliable
        motion = policy._motion(result)
        true, fallback = policy._photometric_error(a, b, scenes.disparity[i], motion)
        flat, _ = policy._photometric_error(a, b, np.ones_like(a), motion)
        assert not fallback and true < flat
        # no direction found (too few inliers): the brute-force search, flagged
        blind = policy._motion(classical.run_pipeline(a, b, min_inliers=10**6))
        assert blind is None
        searched, fallback = policy._photometric_error(a, b, scenes.disparity[i], blind)
        assert fallback and np.isfinite(searched)


def _check_database(db, rounds, budget):
    with sqlite3.connect(db) as connection:
        labels, distinct, cost = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT scene), SUM(cost) FROM labels").fetchone()
        assert labels == distinct == rounds * budget
        assert cost == pytest.approx(labels * experiments.CostModel().label)
        numbers = [r for (r,) in connection.execute("SELECT round FROM rounds ORDER BY round")]
        assert numbers == list(range(1, rounds + 1))
        deployed = [r for (r,) in connection.execute(
            "SELECT round FROM deployments ORDER BY round")]
        assert deployed == list(range(rounds + 1))
        folder = db.with_name(db.name + ".models")
        for (path,) in connection.execute("SELECT path FROM models"):
            assert (folder / path).is_file()
        price = experiments.CostModel().label
        for (text,) in connection.execute("SELECT metrics FROM rounds"):
            record = json.loads(text)
            decision = record["decision"]
            assert record["deployed"] == decision["deploy"] == (
                decision["lower"] > 0 and decision["regression"] <= TINY_CONFIG.tolerance)
            test = record["test"]
            assert test["deployed"] == test["challenger" if record["deployed"] else "champion"]
            assert set(record["served"]) == {"deployed", "frozen", "classical"}
            assert record["served"]["deployed"] == record["served_absrel"]
            spent = record["cost"]
            assert spent["bought"] == pytest.approx(record["labels"] * price)
            assert spent["total"] == pytest.approx(spent["bought"] + spent["gate"]
                                                   + spent["held_out"])
            assert spent["gate"] > 0 and spent["held_out"] > 0 and spent["measurement"] > 0
            assert (record["alarm"] is None) == (record["round"] == 1)
            assert sum(record["mix"].values()) == len(record["served_signals"]["uncertainty"])
        return [json.loads(t) for (t,) in connection.execute(
            "SELECT metrics FROM rounds ORDER BY round")]


def _without_timings(records):
    return [{k: v for k, v in r.items() if k != "retrain_seconds"} for r in records]


@pytest.mark.slow
def test_a_killed_loop_resumes_without_losing_or_double_counting(tmp_path):
    environment = _environment(tmp_path)
    rng = np.random.default_rng(7)
    killed = tmp_path / "killed.sqlite"
    for _ in range(4):  # kill it at random moments: starting, training, writing, committing
        process = subprocess.Popen(_command(killed, 4, "--json"), cwd=BOOK, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 7.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = subprocess.run(_command(killed, 4, "--json"), cwd=BOOK, env=environment,
                              capture_output=True, text=True, check=True)
    records = json.loads(finished.stdout)
    assert [r["round"] for r in records] == [1, 2, 3, 4]
    assert _check_database(killed, 4, 2) == records
    # the wall time: the one field that differs between runs
    assert all(record["retrain_seconds"] > 0 for record in records)

    # The same loop run without interruption, then continued: the same rounds, bit for bit.
    calm = tmp_path / "calm.sqlite"
    subprocess.run(_command(calm, 2), cwd=BOOK, env=environment, check=True,
                   capture_output=True)
    again = json.loads(subprocess.run(_command(calm, 4, "--json"), cwd=BOOK, env=environment,
                                      capture_output=True, text=True, check=True).stdout)
    assert _without_timings(again) == _without_timings(records)

    # A database made by one configuration refuses another.
    other = subprocess.run(_command(calm, 5, "--strategy", "diversity"), cwd=BOOK,
                           env=environment, capture_output=True, text=True)
    assert other.returncode == 2 and "another configuration" in other.stderr


@pytest.mark.slow
def test_run_many_runs_each_loop_once_in_its_own_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "cache"))
    configs = [TINY_CONFIG, dataclasses.replace(TINY_CONFIG, strategy="diversity")]
    first = loop.run_many(configs, 2, progress=False)
    assert [[r["round"] for r in records] for records in first] == [[1, 2], [1, 2]]
    for config, records in zip(configs, first):
        assert loop.default_db(config).parent == tmp_path / "cache"
        assert _check_database(loop.default_db(config), 2, config.budget) == records
    assert loop.default_db(configs[0]) != loop.default_db(configs[1])
    # done loops are read back, not run again (a run would add checkpoint files)
    files = sorted((tmp_path / "cache").rglob("*"))
    assert loop.run_many(configs, 2, progress=False) == first
    assert sorted((tmp_path / "cache").rglob("*")) == files
    # The two loops shared what no strategy changes; a loop that computes it on its own, on a
    # worker as well, gives the same rounds.
    alone = tmp_path / "alone.sqlite"
    connection = store._open(alone, configs[1])
    store._start(connection, alone, configs[1], progress=False)
    connection.close()
    (files,), _ = parallel.run(runner._loop_job, [(configs[1], 2, store._files(alone), {})],
                               progress=False)
    alone.write_bytes(files["db"])
    with sqlite3.connect(alone) as connection:
        records = [json.loads(t) for (t,) in connection.execute(
            "SELECT metrics FROM rounds ORDER BY round")]
    assert _without_timings(records) == _without_timings(first[1])
    with pytest.raises(TypeError, match="LoopConfig"):
        loop.run_many([{"budget": 2}], 1)


@pytest.mark.slow
def test_crash_leftovers_and_damaged_checkpoints_are_never_used(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "cache"))
    expected = _without_timings(loop.run(tmp_path / "calm.sqlite", 3, config=TINY_CONFIG,
                                         progress=False))
    db = tmp_path / "crashed.sqlite"
    loop.run(db, 3, config=TINY_CONFIG, progress=False)
    folder = db.with_name(db.name + ".models")
    # What a crash leaves: half-written temporary files of a process that is gone (a PID above
    # Linux's largest), and, after a power loss, a checkpoint cut short.
    dead = [folder / "round-004.pt.999999999.partial",
            db.with_name(db.name + ".999999999.partial")]
    for path in dead:
        path.write_bytes(b"half a file")
    live = folder / f"round-004.pt.{os.getpid()}.partial"  # a write still in progress
    live.write_bytes(b"being written")
    checkpoint = folder / "round-002.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match="round 2 is damaged"):
        records = loop.run(db, 3, config=TINY_CONFIG, progress=False)
    assert not any(path.exists() for path in dead) and live.exists()
    assert _without_timings(records) == expected  # rounds 2 and 3 computed again, the same
    assert _check_database(db, 3, TINY_CONFIG.budget) == records
    # A missing first model is written again from the model cache ...
    (folder / "round-000.pt").unlink()
    with pytest.warns(RuntimeWarning, match="first model"):
        assert _without_timings(loop.run(db, 3, config=TINY_CONFIG, progress=False)) == expected
    # ... and if the cache holds another one, the loop stops with a clear error.
    (folder / "round-000.pt").write_bytes(b"")
    another = experiments.trained_model(TINY_CONFIG.initial, seed=TINY_CONFIG.seed + 1,
                                        config=settings._initial_config(TINY_CONFIG),
                                        progress=False)
    monkeypatch.setattr(store, "_first_model", lambda config, progress=False: another)
    with pytest.raises(ValueError, match="first model's checkpoint"):
        loop.run(db, 3, config=TINY_CONFIG, progress=False)


def test_the_database_commits_to_the_disk_and_knows_its_schema(tmp_path):
    connection = store._open(tmp_path / "new.sqlite", TINY_CONFIG)
    try:
        assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        connection.close()
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as connection:  # a loop database of the first schema
        connection.execute(f"PRAGMA application_id = {store._APPLICATION_ID}")
        connection.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    with pytest.raises(ValueError, match="another version of the loop"):
        loop.run(old, 1, config=TINY_CONFIG)


