"""Tests of depthlab.parallel, the studies' executor: on this machine, and on a real Dask
cluster (``dask scheduler`` and ``dask worker`` processes) that the tests start on 127.0.0.1
and stop again."""
import json
import math
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import distributed
import pytest

from depthlab import cpu, learned, parallel

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"

# A small crossover study: 3 sizes x 2 seeds, the monocular control at 2 sizes and the run with
# twice the step cap, models of a few seconds each.
STUDY = ["crossover", "--sizes", "4", "8", "16", "--seeds", "2", "--extra-seeds", "0", "--steps",
         "100", "--test", "10", "--validation", "10", "--no-features", "--json"]
MODELS = 3 * 2 + 2 + 1  # the last: a seed that ran into the step cap, again with twice it


def _numbers(output):
    """The study's JSON without its wall times, which no two runs share."""
    result = json.loads(output)
    result.pop("train_seconds")
    if result["longer_training"] is not None:
        result["longer_training"].pop("train_seconds")
    return result


# Without a dashboard the scheduler and the workers still serve health checks over HTTP, by
# default on every interface: here on 127.0.0.1 only, like everything the tests start.
LOCAL_HTTP = ["--dashboard-address", "127.0.0.1:0"]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _study(cache, *options, check=True):
    """The study's command line in a fresh process with its own cache; returns the result."""
    return subprocess.run([sys.executable, "-m", "depthlab.experiments", *STUDY, *options],
                          cwd=BOOK, env={**os.environ, "DEPTHLAB_CACHE": str(cache)},
                          capture_output=True, text=True, check=check, timeout=600,
                          stdin=subprocess.DEVNULL)


class Cluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1, with the
    book's folder on the workers' path unless ``with_depthlab`` is False, and the book's CPU
    settings (`depthlab.cpu`) unless ``cpu_settings`` is False."""

    def __init__(self, folder, workers=2, with_depthlab=True, cpu_settings=True):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"
                       and (cpu_settings or k not in cpu.AVX2)}
        hide = []
        if with_depthlab:  # the workers run this checkout's package, whichever one is installed
            environment["PYTHONPATH"] = str(BOOK)
        else:  # a worker machine where the book's package is not installed
            preload = pathlib.Path(folder) / "without_depthlab.py"
            preload.write_text("import pathlib, sys\nsys.path[:] = [p for p in sys.path "
                               "if not (pathlib.Path(p) / 'depthlab').is_dir()]\n")
            hide = ["--preload", str(preload)]
        dask = [sys.executable, "-m", "dask"]
        self.processes = [subprocess.Popen(
            dask + ["scheduler", "--host", "127.0.0.1", "--port",
                    self.address.rsplit(":", 1)[1], "--no-dashboard", *LOCAL_HTTP],
            cwd=folder, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        self.processes += [subprocess.Popen(
            dask + ["worker", self.address, "--nthreads", "1", "--host", "127.0.0.1",
                    "--no-dashboard", *LOCAL_HTTP, "--name", f"worker-{i}", *hide],
            cwd=folder, env=environment, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(workers)]
        try:
            self.client = distributed.Client(self.address, timeout=60, set_as_default=False)
            self.client.wait_for_workers(workers, timeout=120)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if getattr(self, "client", None) is not None:
            self.client.close()
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    """The study computed in one process, with no cluster: the reference."""
    return _numbers(_study(tmp_path_factory.mktemp("in-process"), "--scheduler",
                           parallel.IN_PROCESS).stdout)


@pytest.mark.slow
def test_a_study_on_a_cluster_gives_the_numbers_it_gives_in_process(tmp_path, in_process):
    with Cluster(tmp_path) as cluster:
        result = _study(tmp_path / "cache", "--scheduler", cluster.address)
    assert _numbers(result.stdout) == in_process
    assert result.stdout.count("\n") == 1  # --json: the JSON and nothing else
    assert len(list((tmp_path / "cache").glob("model-*.pt"))) == MODELS


@pytest.mark.slow
def test_a_worker_killed_while_it_trains_changes_nothing(tmp_path, in_process):
    cache = tmp_path / "cache"
    with Cluster(tmp_path) as cluster:
        pids = cluster.client.run(os.getpid)
        cluster.client.get_task_stream()  # the scheduler records every task from now on
        begun = time.time()
        study = subprocess.Popen(
            [sys.executable, "-m", "depthlab.experiments", *STUDY, "--scheduler",
             cluster.address], cwd=BOOK, env={**os.environ, "DEPTHLAB_CACHE": str(cache)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            deadline, victim = time.monotonic() + 120, None
            while victim is None and time.monotonic() < deadline:
                busy = [w for w, keys in cluster.client.processing().items() if keys]
                victim = busy[0] if busy else None
                time.sleep(0.2)
            assert victim is not None, "no job started on the cluster"
            time.sleep(1.5)  # into the training
            killed = set(cluster.client.processing()[victim])
            os.kill(pids[victim], signal.SIGKILL)
            out, err = study.communicate(timeout=600)
        finally:
            study.kill()
        assert study.returncode == 0, err
        finished = {t["key"]: t["worker"] for t in cluster.client.get_task_stream(start=begun)
                    if t["status"] == "OK"}
    # the job the killed worker was running ran again, whole, on another worker
    assert killed and all(finished.get(key) not in (None, victim) for key in killed)
    assert _numbers(out) == in_process
    assert not list(cache.rglob("*.partial"))
    models = list(cache.glob("model-*.pt"))
    assert len(models) == MODELS
    for path in models:
        learned.load(path)  # every file is whole


@pytest.mark.slow
def test_an_unreachable_scheduler_is_refused_within_seconds(tmp_path):
    start = time.monotonic()
    result = _study(tmp_path, "--scheduler", f"tcp://127.0.0.1:{_free_port()}", check=False)
    assert result.returncode == 2 and "no Dask scheduler answers" in result.stderr
    assert time.monotonic() - start < 60  # the imports, and a 5 s connection timeout
    assert result.stdout == ""


@pytest.mark.parametrize("address", ["not an address", "tcp://127.0.0.1", "tcp://:8786",
                                     "tcp://127.0.0.1:port", "inproc://127.0.0.1:1"])
def test_a_malformed_scheduler_address_is_refused(address):
    with pytest.raises(ValueError, match="tcp://host:8786"):
        parallel.client(address)
    with pytest.raises(TypeError, match="scheduler"):
        parallel.client(8786)


def test_the_command_line_refuses_a_malformed_address(tmp_path):
    result = _study(tmp_path, "--scheduler", "localhost", check=False)
    assert result.returncode == 2 and "tcp://host:8786" in result.stderr


@pytest.mark.slow
def test_workers_without_depthlab_are_refused_with_a_clear_error(tmp_path):
    with Cluster(tmp_path, workers=1, with_depthlab=False) as cluster:
        result = _study(tmp_path / "cache", "--scheduler", cluster.address, check=False)
    assert result.returncode == 2
    assert "cannot import depthlab" in result.stderr and "pip install -e ." in result.stderr
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


@pytest.mark.slow
def test_workers_without_the_cpu_settings_are_refused_with_the_exports_named(tmp_path):
    with Cluster(tmp_path, workers=1, cpu_settings=False) as cluster:
        result = _study(tmp_path / "cache", "--scheduler", cluster.address, check=False)
    assert result.returncode == 2
    assert "CPU settings" in result.stderr
    assert all(f"{k}=" in result.stderr for k in cpu.AVX2)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_binder_sized_machine_computes_in_process():
    assert parallel.local_workers(cpus=1, memory=24e9) == 0  # one CPU
    assert parallel.local_workers(cpus=2, memory=2 * 2**30) == 0  # Binder's 2 GB
    assert parallel.local_workers(cpus=2, memory=24e9) == 2
    assert parallel.local_workers(cpus=64, memory=24e9) == 18  # (24 - 1.5 GB) / 1.2 GB
    assert parallel.local_workers() >= 0  # Dask's own reading of this machine
    with pytest.raises(ValueError, match="cpus"):
        parallel.local_workers(cpus=0, memory=24e9)
    with pytest.raises(ValueError, match="memory"):
        parallel.local_workers(cpus=2, memory=-1)


def test_every_local_worker_holds_the_book_s_cpu_settings(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")  # an explicit setting wins
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # but a worker computes on one core
    environment = parallel.worker_environment()
    assert environment["OPENBLAS_CORETYPE"] == "Zen"
    assert environment["ATEN_CPU_CAPABILITY"] == os.environ.get("ATEN_CPU_CAPABILITY", "avx2")
    assert environment["OMP_NUM_THREADS"] == environment["OPENBLAS_NUM_THREADS"] == "1"


def test_a_projected_schedule_lies_between_its_bounds():
    seconds = [7.0, 5.0, 4.0, 4.0, 3.0, 3.0, 2.0, 1.0]
    for workers in (1, 2, 3, 8, 64):
        placed = parallel.schedule(seconds, workers)
        wall = max(t.stop for t in placed)
        assert max(max(seconds), sum(seconds) / workers) <= wall
        assert wall <= sum(seconds) / workers + max(seconds)
        assert [t.seconds for t in placed] == seconds
        for worker in {t.worker for t in placed}:  # no worker runs two jobs at once
            mine = sorted((t.start, t.stop) for t in placed if t.worker == worker)
            assert all(a[1] <= b[0] for a, b in zip(mine, mine[1:]))
    assert max(t.stop for t in parallel.schedule(seconds, 64)) == 7.0  # the floor
    assert max(t.stop for t in parallel.schedule(seconds, 1)) == sum(seconds)
    with pytest.raises(ValueError, match="workers"):
        parallel.schedule(seconds, 0)
    with pytest.raises(ValueError, match="seconds"):
        parallel.schedule([-1.0], 2)


def test_run_keeps_the_order_of_the_jobs_and_records_each_task():
    results, tasks = parallel.run(math.pow, [(2, 3), (3, 2), (2, 3)], labels=["a", "b", "c"],
                                  scheduler=parallel.IN_PROCESS, progress=False)
    assert results == [8.0, 9.0, 8.0]
    assert [t.label for t in tasks] == ["a", "b", "c"]
    assert all(t.worker == "worker 0" and 0 <= t.start <= t.stop for t in tasks)
    assert parallel.run(math.pow, [], progress=False) == ([], [])
    with pytest.raises(ValueError, match="labels"):
        parallel.run(math.pow, [(2, 3)], labels=[], progress=False)
    parallel.shutdown()


@pytest.mark.slow
def test_the_throughput_command_times_one_and_two_workers(tmp_path):
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "throughput",
                             "--workers", "1", "2", "--jobs", "2", "--steps", "5", "--json"],
                            cwd=BOOK, env={**os.environ, "DEPTHLAB_CACHE": str(tmp_path)},
                            capture_output=True, text=True, check=True, timeout=300)
    out = json.loads(result.stdout)
    assert out["workers"] == [1, 2] and out["speedup"][0] == 1.0
    assert len(out["seconds"]) == len(out["overhead_seconds_per_job"]) == 2
    assert all(s > 0 for s in out["seconds"] + out["job_seconds"])
    assert len(list(tmp_path.glob("throughput-*.json"))) == 1
