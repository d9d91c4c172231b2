"""The loop's store: one SQLite database of the scenes seen, the labels bought, every model and
deployment and every round, with the checkpoints beside it, and its repair after a crash."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import sqlite3
import warnings

from .. import cache, learned, world
from .config import LoopConfig, _first_model, _phase_world


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
        raise ValueError(f"{db} is not a loop database (corrupt or another file): "
                         f"{error}") from error
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


def _files(db):
    """A loop's database and checkpoints as bytes: what a worker needs to resume it."""
    return {"db": db.read_bytes(),
            "models": {p.name: p.read_bytes() for p in sorted(_checkpoints(db).glob("*.pt"))}}
