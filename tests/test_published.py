"""Tests of depthlab.published: results packed here, served by a loopback HTTP server, fetched
on a cache miss with their SHA-256 checked, and computed locally whenever fetching fails."""
import functools
import http.server
import json
import shutil
import threading

import numpy as np
import pytest

from depthlab import cache, classical, experiments, published, world

SCENES = world.render_scenes(5, range(2))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the tests read the standard error
        pass


@pytest.fixture
def serve():
    """Serves a folder over HTTP on 127.0.0.1; returns its address. Stopped after the test."""
    servers = []

    def start(folder):
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def packed(tmp_path, monkeypatch):
    """The classical pipeline's evaluation of two scenes, computed into a cache and packed;
    returns the packed folder and the depth maps."""
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "computed"))
    depth = experiments.evaluate_classical(SCENES, progress=False).depth
    published.pack(tmp_path / "published")
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "empty"))
    published._manifest.cache_clear()
    yield tmp_path / "published", depth
    published._manifest.cache_clear()


@pytest.fixture
def computes(monkeypatch):
    """Counts the classical pipeline's runs."""
    calls = []
    run = classical.run_pipeline
    monkeypatch.setattr(classical, "run_pipeline", lambda *a, **k: calls.append(1) or run(*a, **k))
    return calls


def test_an_empty_cache_fills_from_the_published_results(packed, serve, computes, monkeypatch,
                                                         capsys):
    folder, depth = packed
    monkeypatch.setenv(published.VARIABLE, serve(folder))
    np.testing.assert_array_equal(experiments.evaluate_classical(SCENES, progress=False).depth,
                                  depth)
    assert computes == []
    assert capsys.readouterr().err == ""
    assert len(list(cache.directory().iterdir())) == 1  # the entry, and no temporary file


def test_a_corrupted_entry_is_refused_and_computed(packed, serve, computes, monkeypatch, capsys):
    folder, depth = packed
    (entry,) = (folder / "files").iterdir()
    entry.write_bytes(entry.read_bytes()[:-10] + bytes(10))
    monkeypatch.setenv(published.VARIABLE, serve(folder))
    np.testing.assert_array_equal(experiments.evaluate_classical(SCENES, progress=False).depth,
                                  depth)
    assert computes  # computed here
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "computing it locally" in err
    assert [p.name for p in cache.directory().iterdir()] == [entry.stem]  # computed here


def test_unreachable_results_are_computed_with_one_line(packed, serve, computes, monkeypatch,
                                                        capsys):
    folder, depth = packed
    address = serve(folder)
    shutil.rmtree(folder)  # the server answers, with "404 Not Found"
    monkeypatch.setenv(published.VARIABLE, address)
    experiments.evaluate_classical(SCENES, progress=False)
    ran = len(computes)
    experiments.evaluate_classical(SCENES, progress=False)
    assert ran and len(computes) == ran  # the second call reads the local cache
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no published results" in err


def test_nothing_listens_and_the_entry_is_computed(packed, computes, monkeypatch, capsys):
    monkeypatch.setenv(published.VARIABLE, "http://127.0.0.1:9")  # the discard port: refused
    experiments.evaluate_classical(SCENES, progress=False)
    assert computes  # computed here
    assert "no published results" in capsys.readouterr().err


def test_results_of_other_code_are_ignored(packed, serve, computes, monkeypatch, capsys):
    folder, _ = packed
    manifest = json.loads((folder / published.MANIFEST).read_text())
    (folder / published.MANIFEST).write_text(json.dumps({**manifest, "package": "0" * 16}))
    monkeypatch.setenv(published.VARIABLE, serve(folder))
    experiments.evaluate_classical(SCENES, progress=False)
    assert computes  # computed here
    assert "computed by other code" in capsys.readouterr().err


def test_off_fetches_nothing(packed, serve, computes, monkeypatch, capsys):
    monkeypatch.setenv(published.VARIABLE, "off")
    experiments.evaluate_classical(SCENES, progress=False)
    assert computes  # computed here
    assert capsys.readouterr().err == ""


def test_an_entry_with_files_of_its_own_comes_whole_and_last(tmp_path, serve, monkeypatch):
    """A loop's database and its checkpoints: the database, which says the loop is there,
    arrives after them."""
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "computed"))
    db = cache.directory() / "loop-0123.sqlite"
    (cache.directory() / "loop-0123.sqlite.models").mkdir(parents=True)
    for name, data in (("loop-0123.sqlite", b"db"), ("loop-0123.sqlite.models/round-000.pt", b"0"),
                       ("loop-0123.sqlite.models/round-001.pt", b"1"), ("loop-4.json", b"{}")):
        (cache.directory() / name).write_bytes(data)
    manifest = published.pack(tmp_path / "published")
    assert manifest["package"] == cache.package_digest() and len(manifest["files"]) == 4
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv(published.VARIABLE, serve(tmp_path / "published"))
    published._manifest.cache_clear()
    order = []
    write = cache.write_atomic
    monkeypatch.setattr(cache, "write_atomic",
                        lambda path, w: order.append(path.name) or write(path, w))
    assert published.fetch(cache.directory() / db.name)
    assert order == ["round-000.pt", "round-001.pt", "loop-0123.sqlite"]
    assert (cache.directory() / "loop-0123.sqlite.models" / "round-001.pt").read_bytes() == b"1"
    assert not (cache.directory() / "loop-4.json").exists()
    assert published.fetch_all() == 2
    published._manifest.cache_clear()


def test_the_command_line_packs_and_fetches(tmp_path, serve, monkeypatch, capsys):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "computed"))
    cache.directory().mkdir()
    (cache.directory() / "sweep-1.json").write_text("[1]")
    assert published.main(["pack", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("1 files, ")
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv(published.VARIABLE, serve(tmp_path / "out"))
    published._manifest.cache_clear()
    assert published.main(["fetch"]) == 0
    assert (cache.directory() / "sweep-1.json").read_text() == "[1]"
    published._manifest.cache_clear()
