"""The disk cache of the book's studies: where it lives, how an entry is named, and how it is
written.

Trained models, study results and the classical methods' runs are kept in ``.cache/depthlab``
at the top of the repository, or in the folder ``$DEPTHLAB_CACHE`` names (read at each call,
so a test or a benchmark can move it); a package installed outside a checkout uses the user's
cache folder (`directory`). Every cached computation finds its file with `entry` (or lets
`memo` do it): the name is a hash of every configuration (and, for a run on given scenes, of
their arrays: `array_digest`) that made the result, and of the code that made it. The code is
named where the computation is defined, as its module; the key covers that module and every
module of the package it imports, directly or not (`code_digest`), so a change to what any of
them computes starts afresh, and editing their docstrings or comments does not
(`source_digest`). This module imports none of them: it reads their files. Only the process
that runs a study writes here: a worker, on this machine or another, returns bytes and never
touches the folder, so a cluster needs no disk shared with the reader's machine. Every file is
written through a temporary name and flushed to the disk, so an interrupted run never leaves
half a file (`remove_stale` clears the temporary files a killed process leaves behind). The
folder is never committed; deleting it is always safe.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np

__all__ = ["INFRASTRUCTURE", "PARTIAL", "array_digest", "cache_key", "code_digest", "directory",
           "entry", "from_bytes", "load_arrays", "memo", "package_digest", "remove_stale",
           "save_arrays", "source_digest", "to_bytes", "write_atomic", "write_bytes"]

#: The package's modules that change no result: where files go, how jobs are spread over
#: workers, how time is measured, how figures are drawn and how results are printed.
#: `code_digest` leaves their source out (but follows their imports: `cpu`'s settings change
#: numbers).
INFRASTRUCTURE = ("depthlab.cache", "depthlab.published", "depthlab.parallel", "depthlab.timing",
                  "depthlab.plotting", "depthlab.widgets", "depthlab.experiments.cli")

_PACKAGE = pathlib.Path(__file__).resolve().parent

#: How the temporary file of a write in progress ends (`write_atomic`).
PARTIAL = ".partial"


def directory() -> pathlib.Path:
    """The cache folder.

    Returns
    -------
    pathlib.Path
        ``$DEPTHLAB_CACHE`` if set; else ``.cache/depthlab`` at the top of the book's
        repository when the package runs from a checkout (``pip install -e .``); else
        ``depthlab`` in the user's cache folder (``$XDG_CACHE_HOME``, by default
        ``~/.cache``), for a package installed from the repository.
    """
    if os.environ.get("DEPTHLAB_CACHE"):
        return pathlib.Path(os.environ["DEPTHLAB_CACHE"])
    checkout = pathlib.Path(__file__).resolve().parents[2]
    if (checkout / "_toc.yml").is_file():
        return checkout / ".cache" / "depthlab"
    return pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache",
                        "depthlab")


def source_digest(paths) -> str:
    """A short hash of what Python files compute, blind to their docstrings, comments and
    layout.

    Parameters
    ----------
    paths : iterable of path-like
        Python source files; their order matters.

    Returns
    -------
    str
        16 hex digits of a hash of each file's name and syntax tree without docstrings, so
        that editing the documentation of the code keeps the cache.
    """
    digest = hashlib.sha256()
    for path in map(pathlib.Path, paths):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                  ast.AsyncFunctionDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(path.name.encode() + ast.dump(tree).encode())
    return digest.hexdigest()[:16]


def _module_name(path):
    """``depthlab.<...>`` of a source file of the package."""
    parts = path.relative_to(_PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """The package's source files that one of its files imports (relative imports, the
    package's only kind), as paths."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
        if node.module:
            base = base.joinpath(*node.module.split("."))
            candidates = [base] + [base / alias.name for alias in node.names]
        else:
            candidates = [base / alias.name for alias in node.names]
        for candidate in candidates:
            for file in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if file.is_file():
                    found.append(file)
    return found


@functools.lru_cache(maxsize=None)
def code_digest(module: str) -> str:
    """The version of the code that makes a module's results: part of its cache keys.

    Parameters
    ----------
    module : str
        A module of the package, such as ``"depthlab.experiments.studies"`` (a computation
        passes its own ``__name__``).

    Returns
    -------
    str
        `source_digest` of the module and of every module of the package that it imports,
        directly or not, except `INFRASTRUCTURE`.
    """
    if not isinstance(module, str) or module.split(".")[0] != _PACKAGE.name:
        raise ValueError(f"module must name a module of {_PACKAGE.name}, got {module!r}")
    root = pathlib.Path(*module.split(".")[1:])
    start = [f for f in (_PACKAGE / root.with_suffix(".py"), _PACKAGE / root / "__init__.py")
             if f.is_file()]
    if not start:
        raise ValueError(f"module must name a module of {_PACKAGE.name}, got {module!r}")
    seen, todo = set(), start
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path))
    return source_digest(sorted(p for p in seen if _module_name(p) not in INFRASTRUCTURE))


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """`source_digest` of every module of the package: what a worker must run to compute
    what this process would (`depthlab.parallel` compares it before it submits a job).

    Returns
    -------
    str
        16 hex digits.
    """
    return source_digest(sorted(_PACKAGE.rglob("*.py")))


def cache_key(*parts) -> str:
    """A short hash of ``parts`` (dataclasses or JSON values).

    Parameters
    ----------
    *parts : dataclass instances or JSON values
        What made the result; a dataclass counts by its fields (`dataclasses.asdict`).

    Returns
    -------
    str
        20 hex digits.
    """
    text = json.dumps([dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p
                       for p in parts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def entry(kind: str, *parts, code: str, suffix: str = ".json") -> pathlib.Path:
    """Where a result is cached: the one way every computation of the book finds its file.

    Parameters
    ----------
    kind : str
        What the result is, the start of the file's name (``"model"``, ``"sweep"``, ...).
    *parts : dataclass instances or JSON values
        Everything that made the result (see `cache_key`).
    code : str
        The module that computes it (its ``__name__``): its `code_digest` is part of the key.
    suffix : str
        The file's extension, with its dot.

    Returns
    -------
    pathlib.Path
        ``<directory>/<kind>-<20 hex digits><suffix>``; the file may not exist yet.

    Raises
    ------
    TypeError
        A part is not a JSON value or a dataclass of them.
    """
    path = directory() / f"{kind}-{cache_key(kind, *parts, code_digest(code))}{suffix}"
    if not path.is_file():
        from . import published  # published imports this module
        published.fetch(path)
    return path


def _save_json(thing, path):
    path.write_text(json.dumps(thing))


def _load_json(path):
    return json.loads(path.read_text())


def save_arrays(arrays: dict, path: pathlib.Path) -> None:
    """Writes named arrays to ``path`` as one ``.npz`` file (a `memo` ``save``).

    Parameters
    ----------
    arrays : dict of str to array-like
    path : path-like
        The file, whatever its name (``numpy.savez`` would append ``.npz`` to a name).
    """
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_arrays(path: pathlib.Path) -> dict:
    """The named arrays `save_arrays` wrote (a `memo` ``load``).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict of str to numpy.ndarray
    """
    with np.load(path) as saved:
        return {name: saved[name] for name in saved.files}


def memo(kind: str, *parts, code: str, compute, save=_save_json, load=_load_json,
         suffix: str = ".json"):
    """``compute()`` once: its result is kept at `entry` and read back from there afterwards.

    Parameters
    ----------
    kind, *parts, code, suffix
        As in `entry`.
    compute : callable
        Called without arguments when the entry is missing.
    save, load : callable
        ``save(result, path)`` writes what ``compute`` returned, ``load(path)`` reads it
        back; JSON by default.

    Returns
    -------
    object
        What ``load`` reads (also on the first call, so that both calls give the same).
    """
    path = entry(kind, *parts, code=code, suffix=suffix)
    if not path.is_file():
        result = compute()
        write_atomic(path, lambda target: save(result, target))
    return load(path)


def array_digest(*arrays) -> str:
    """A short hash of arrays' shapes, types and values: a part of `cache_key` for a result
    computed from data rather than from a configuration.

    Parameters
    ----------
    *arrays : array-likes
        The data; their order matters, their memory layout does not.

    Returns
    -------
    str
        20 hex digits of a hash of each array's shape, type and values.
    """
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
    the new file survives a power loss too (a database row written after it may name it).

    Parameters
    ----------
    path : path-like
        The file to write; its folder is made if missing.
    write : callable
        Called once with the temporary file's `pathlib.Path`; it must write the whole file.
    """
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
    process, a power loss. Those of a process still running are kept.

    Parameters
    ----------
    folder : path-like
        The folder to clear.
    prefix : str
        Only temporary files whose names start with it are considered; all by default.

    Returns
    -------
    list of pathlib.Path
        The paths removed, sorted.
    """
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
    """`write_atomic` of ``data``, a result a worker returned.

    Parameters
    ----------
    path : path-like
        The file to write.
    data : bytes
        Its whole contents; anything else raises `TypeError`.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    write_atomic(path, lambda target: target.write_bytes(data))


def to_bytes(save, thing) -> bytes:
    """What ``save(thing, path)`` writes, as bytes: how a worker returns a trained model
    without a disk shared with the process that caches it.

    Parameters
    ----------
    save : callable
        Called as ``save(thing, path)`` with a path in a temporary folder, such as
        `learned.save`.
    thing : object
        What to save.

    Returns
    -------
    bytes
        The contents of the file ``save`` wrote.
    """
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        path = pathlib.Path(folder) / "result"
        save(thing, path)
        return path.read_bytes()


def from_bytes(load, data: bytes):
    """``load(path)`` of a file holding ``data``: the inverse of `to_bytes`.

    Parameters
    ----------
    load : callable
        Called as ``load(path)`` with a temporary file holding ``data``, such as
        `learned.load`.
    data : bytes
        What `to_bytes` returned; anything else raises `TypeError`.

    Returns
    -------
    object
        What ``load`` returns.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        path = pathlib.Path(folder) / "result"
        path.write_bytes(data)
        return load(path)
