"""Tests of depthlab.cache: entries named by what made them and by their code, atomic
writes, and the digests."""
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from depthlab import cache

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def _entry_in_a_copy(tmp_path, code, edits=()):
    """The path of an entry that a copy of the package computes in ``code``, after appending
    ``text`` to each ``(file, text)`` of ``edits`` in the copy."""
    copy = tmp_path / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(pathlib.Path(cache.__file__).parent, copy / "depthlab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for file, text in edits:
        target = copy / "depthlab" / file
        target.write_text(target.read_text() + text)
    program = f"from depthlab import cache\nprint(cache.entry('x', 1, code={code!r}))"
    return subprocess.run([sys.executable, "-c", program], cwd=copy, check=True,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(copy),
                               "DEPTHLAB_CACHE": str(tmp_path / "cache")}).stdout


@pytest.mark.parametrize("code, file, changes", [
    ("depthlab.experiments.studies", "experiments/studies.py", True),
    ("depthlab.experiments.studies", "world.py", True),  # a module it imports
    ("depthlab.experiments.studies", "loop/runner.py", False),  # one it does not
    ("depthlab.experiments.studies", "parallel.py", False),  # infrastructure
    ("depthlab.loop.runner", "explain.py", True),
    ("depthlab.loop.runner", "hybrid.py", True),
    ("depthlab.loop.runner", "experiments/costs.py", True),
    ("depthlab.loop.runner", "loop/policy.py", True),
    ("depthlab.loop.runner", "widgets.py", False)])
def test_an_entry_is_computed_again_when_its_code_changes_not_its_comments(tmp_path, code, file,
                                                                           changes):
    here = _entry_in_a_copy(tmp_path, code)
    assert here.startswith(str(tmp_path / "cache" / "x-"))
    assert _entry_in_a_copy(tmp_path, code) == here
    # what a module computes changes: another entry (so the result is computed again) where
    # the computation uses the module
    assert (_entry_in_a_copy(tmp_path, code, [(file, "\nEDITED = 1\n")]) != here) == changes
    # documentation and comments change: the same entry
    assert _entry_in_a_copy(tmp_path, code, [(file, "\n# a comment\n"),
                                             (file, '\ndef f():\n    """A docstring."""\n')]) \
        == _entry_in_a_copy(tmp_path, code, [(file, '\ndef f():\n    """Another one."""\n')])


def test_an_entry_names_a_module_of_the_package():
    for code in ("numpy", "depthlab.nothing", 3):
        with pytest.raises(ValueError, match="module"):
            cache.entry("x", 1, code=code)


def test_array_digest_depends_on_values_shape_and_type():
    a = np.arange(6, dtype=np.float32)
    assert cache.array_digest(a) == cache.array_digest(a.copy())
    assert cache.array_digest(a) != cache.array_digest(a.reshape(2, 3))
    assert cache.array_digest(a) != cache.array_digest(a.astype(np.float64))
    assert cache.array_digest(a) != cache.array_digest(a + 1)
    assert cache.array_digest(a, a) != cache.array_digest(a)


def test_cache_writes_are_flushed_and_stale_temporary_files_removed(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(
        f"/proc/self/fd/{fd}")), real_fsync(fd)))
    target = tmp_path / "entry.json"
    cache.write_atomic(target, lambda path: path.write_text("{}"))
    assert target.read_text() == "{}"
    assert synced[-1] == str(tmp_path) and any(p.endswith(".partial") for p in synced)
    assert not list(tmp_path.glob("*.partial"))
    gone = tmp_path / "entry.json.999999999.partial"  # its process cannot be running
    running = tmp_path / f"entry.json.{os.getpid()}.partial"
    foreign = tmp_path / "notes.partial"  # not a temporary file of this package
    for path in (gone, running, foreign):
        path.write_text("half")
    assert cache.remove_stale(tmp_path) == [gone]
    assert running.exists() and foreign.exists()
    assert cache.remove_stale(tmp_path, prefix="other") == []
