"""The disk cache of the book's studies: where it lives, how an entry is named, and how it is
written.

Trained models, study results and the classical methods' runs are kept in ``.cache/depthlab``
at the top of the repository, or in the folder ``$DEPTHLAB_CACHE`` names (read at each call,
so a test or a benchmark can move it). An entry is named by a hash of every configuration (and,
for a run on given scenes, of their arrays: `array_digest`) that made it and of the source of
the modules that make the numbers (`world`, `classical`, `learned`, `features`, `metrics`), so a
second run is fast and a change to any of them starts afresh. Only the process that runs a
study writes here: a worker, on this machine or another, returns bytes and never touches the
folder, so a cluster needs no disk shared with the reader's machine. Every file is written
through a temporary name and flushed to the disk, so an interrupted run never leaves half a
file (`remove_stale` clears the temporary files a killed process leaves behind). The folder
is never committed; deleting it is always safe.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

from . import _checks, classical, features, learned, metrics, world

__all__ = ["CACHE_FORMAT", "PARTIAL", "array_digest", "cache_key", "code_version", "directory",
           "from_bytes", "remove_stale", "to_bytes", "write_atomic", "write_bytes"]

#: Bump when the way the studies score or store a result changes: it is part of every key.
CACHE_FORMAT = 1

#: How the temporary file of a write in progress ends (`write_atomic`).
PARTIAL = ".partial"


def directory() -> pathlib.Path:
    """The cache folder: ``$DEPTHLAB_CACHE`` if set, else ``.cache/depthlab`` at the top of
    the repository."""
    return pathlib.Path(os.environ.get("DEPTHLAB_CACHE") or pathlib.Path(__file__).resolve()
                        .parents[2] / ".cache" / "depthlab")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source of the modules that make the numbers: part of every cache key."""
    digest = hashlib.sha256(str(CACHE_FORMAT).encode())
    for module in (_checks, classical, features, learned, metrics, world):
        path = pathlib.Path(module.__file__)
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(*parts) -> str:
    """A short hash of ``parts`` (dataclasses or JSON values) and `code_version`: the name of
    a cached result."""
    text = json.dumps([dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p
                       for p in parts] + [code_version()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def array_digest(*arrays) -> str:
    """A short hash of arrays' shapes, types and values: a part of `cache_key` for a result
    computed from data rather than from a configuration."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape} {array.dtype.str}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:20]


def _sync(path: pathlib.Path) -> None:
    """Flushes a file's or a folder's contents to the disk (``fsync``)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_atomic(path: pathlib.Path, write) -> None:
    """Calls ``write(target)`` on a temporary file next to ``path``, then renames it to
    ``path``: readers see the old file or the whole new one, never half of it. The file is
    flushed to the disk before the rename and the folder after it, so that once this returns
    the new file survives a power loss too (a database row written after it may name it)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}{PARTIAL}")
    try:
        write(partial)
        _sync(partial)
        partial.replace(path)
        _sync(path.parent)
    finally:
        partial.unlink(missing_ok=True)


def remove_stale(folder: pathlib.Path, prefix: str = "") -> list:
    """Deletes the temporary files that `write_atomic` calls (for files whose names start with
    ``prefix``) left in ``folder`` when their process died before renaming them: a killed
    process, a power loss. Those of a process still running are kept. Returns the paths
    removed."""
    removed = []
    for partial in sorted(pathlib.Path(folder).glob(f"{prefix}*{PARTIAL}")):
        pid = partial.name[:-len(PARTIAL)].rsplit(".", 1)[-1]
        if not pid.isdigit() or _running(int(pid)):  # not one of ours, or still being written
            continue
        partial.unlink(missing_ok=True)
        removed.append(partial)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_bytes(path: pathlib.Path, data: bytes) -> None:
    """`write_atomic` of ``data``, a result a worker returned."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    write_atomic(path, lambda target: target.write_bytes(data))


def to_bytes(save, thing) -> bytes:
    """What ``save(thing, path)`` writes, as bytes: how a worker returns a trained model
    without a disk shared with the process that caches it."""
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        path = pathlib.Path(folder) / "result"
        save(thing, path)
        return path.read_bytes()


def from_bytes(load, data: bytes):
    """``load(path)`` of a file holding ``data``: the inverse of `to_bytes`."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        path = pathlib.Path(folder) / "result"
        path.write_bytes(data)
        return load(path)
