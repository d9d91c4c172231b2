"""One executor for every study: Dask distributed, on this machine or on a cluster.

The book's studies are sets of independent, deterministic jobs (train one model, score one
descriptor, run one improvement loop). `run` hands them to a `distributed.Client` and collects
the results in order, with one progress bar driven by the jobs as they finish:

- By default the client runs a `distributed.LocalCluster` sized to the machine
  (`local_workers`): one process per CPU, one thread each, every worker holding PyTorch,
  NumPy and OpenBLAS to AVX2 (`depthlab.cpu`), BLAS and OpenMP to one thread, and glibc's
  memory allocator to thresholds that suit training (`MALLOC`). The CPU count
  and the memory are Dask's own readings (``dask.system.CPU_COUNT`` and
  ``distributed.system.MEMORY_LIMIT``), which respect the process's CPU affinity and the
  cgroup limits of a container.
- On a machine with one CPU or less than `MIN_MEMORY` (Binder gives 1 CPU and 2 GB) the jobs
  run in the reader's own process, in one worker thread: a second process would only compete
  for the one CPU and double the memory.
- With ``scheduler="tcp://host:port"`` (or that address in ``$DEPTHLAB_SCHEDULER``) the client
  connects to an existing cluster instead (``dask scheduler`` and ``dask worker`` on other
  machines). Its workers need this package importable and the same source of it; they return
  results as bytes and arrays, so they need no disk shared with this machine.

If a worker dies in the middle of a job, the scheduler runs the job again on another worker;
the jobs are deterministic, so the result is the same. The client is created the first time a
job is submitted, so a study read from the cache starts no cluster at all.
"""
from __future__ import annotations

import dataclasses
import heapq
import importlib.util
import logging
import os
import time

from tqdm.auto import tqdm

from . import cpu

__all__ = ["CONNECT_TIMEOUT", "IN_PROCESS", "KERNEL_MEMORY", "MALLOC", "MIN_MEMORY",
           "SCHEDULER_VARIABLE", "WORKER_MEMORY", "Task", "client", "local_client",
           "local_workers", "preload", "run", "schedule", "shutdown", "worker_environment"]

#: The environment variable that names a scheduler to use instead of a local cluster.
SCHEDULER_VARIABLE = "DEPTHLAB_SCHEDULER"

#: The ``scheduler`` value that computes in this process, in one worker thread.
IN_PROCESS = "in-process"

#: Below this much memory, or with one CPU, the default is to compute in-process.
MIN_MEMORY = 6 * 2**30

#: What one training worker may hold at most (the book's budget), and what the kernel holds.
WORKER_MEMORY, KERNEL_MEMORY = 1.2e9, 1.5e9

#: Seconds to wait for a scheduler to answer, and for a new cluster's first worker.
CONNECT_TIMEOUT = 5

_CLIENTS = {}  # scheduler (address, IN_PROCESS, or a local cluster's size) -> Client


def local_workers(*, cpus: int | None = None, memory: float | None = None) -> int:
    """Worker processes of the default local cluster: one per CPU, as many as the memory
    holds next to the kernel (`WORKER_MEMORY` each, `KERNEL_MEMORY` for the kernel); 0 means
    compute in-process, on a machine with one CPU or less than `MIN_MEMORY` bytes.

    Parameters
    ----------
    cpus : int, optional
        CPUs available; by default Dask's count (affinity and cgroup quota respected).
    memory : float, optional
        Bytes available; by default Dask's reading (cgroup limits respected).

    Returns
    -------
    int
        The number of worker processes, at most ``cpus``; 0 for in-process.
    """
    if cpus is None:
        import dask.system
        cpus = dask.system.CPU_COUNT
    if memory is None:
        import distributed.system
        memory = distributed.system.MEMORY_LIMIT
    if not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 1:
        raise ValueError(f"cpus must be a positive integer, got {cpus!r}")
    if not isinstance(memory, (int, float)) or not memory > 0:
        raise ValueError(f"memory must be a positive number of bytes, got {memory!r}")
    if cpus < 2 or memory < MIN_MEMORY:
        return 0
    return max(1, min(cpus, int((memory - KERNEL_MEMORY) // WORKER_MEMORY)))


#: glibc's malloc thresholds in every worker. Dask's nannies set ``MALLOC_TRIM_THRESHOLD_`` to
#: 64 KiB to hand memory back to the system quickly; for training jobs, which allocate and free
#: the same large tensors at every step, that made a job 1.8 times slower here (18.0 s against
#: 10.1 s with glibc's defaults, and 9.1 s with these).
MALLOC = {"MALLOC_TRIM_THRESHOLD_": str(128 * 2**20), "MALLOC_MMAP_THRESHOLD_": str(128 * 2**20)}


def worker_environment() -> dict:
    """The variables every local worker starts with: `cpu.AVX2` (where this process sets one
    of them otherwise, its setting), one BLAS and OpenMP thread (each worker computes on one
    core, and idle BLAS threads would slow the others down) and `MALLOC`.

    Returns
    -------
    dict of str to str
        Environment variable names and their values.
    """
    return {**{name: os.environ.get(name, value) for name, value in cpu.AVX2.items()},
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            **MALLOC}


def _start_local(n_workers):
    """A client of a new local cluster that it owns (closing the client closes the cluster):
    ``n_workers`` processes, or with 0 one worker thread in this process."""
    import dask
    import distributed
    # No dashboard; the scheduler's own HTTP server (health checks) on a free local port.
    common = {"threads_per_worker": 1, "dashboard_address": None,
              "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
              "silence_logs": logging.ERROR, "set_as_default": False}
    if n_workers == 0:
        return distributed.Client(n_workers=1, processes=False, **common)
    # The nannies set these before they start their worker processes (and again when they
    # restart one), so that they hold from the interpreter's first allocation and import.
    spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **worker_environment()}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn}):
        return distributed.Client(n_workers=n_workers, processes=True, host="127.0.0.1",
                                  env=worker_environment(), **common)


def preload(name: str) -> None:
    """Imports a module: run on every worker (``client.run(preload, name)``) before timing,
    so that timings leave out the imports.

    Parameters
    ----------
    name : str
        The module's absolute name, such as ``"depthlab.learned"``.
    """
    importlib.import_module(name)


def _code_version():
    from . import cache
    return cache.package_digest()


def _connect(address):
    import distributed
    from distributed.comm import parse_address
    try:
        scheme, location = parse_address(address, strict=True)
        host, _, port = location.rpartition(":")
        if scheme != "tcp" or not host or not port.isdigit():
            raise ValueError
    except ValueError:
        raise ValueError(f"scheduler must be an address like tcp://host:8786, "
                         f"got {address!r}") from None
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ConnectionError(f"no Dask scheduler answers at {address} within "
                              f"{CONNECT_TIMEOUT} s ({error})") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        found = client.run(importlib.util.find_spec, "depthlab")
        lacking = sorted(w for w, spec in found.items() if spec is None)
        if lacking:
            raise ValueError(f"the workers {', '.join(lacking)} of {address} cannot import "
                             "depthlab: install the book's package where they run (pip "
                             f"install -e . in the repository), then dask worker {address}")
        ours = _code_version()
        other = sorted(w for w, v in client.run(_code_version).items() if v != ours)
        if other:
            raise ValueError(f"the workers {', '.join(other)} of {address} run another version "
                             "of depthlab than this process: give them the same source")
        ours = cpu.settings()
        other = sorted(w for w, v in client.run(cpu.settings).items() if v != ours)
        if other:
            exports = " ".join(f"{k}={v!r}" if " " in v else f"{k}={v}"
                               for k, v in ours.items() if v is not None)
            raise ValueError(f"the workers {', '.join(other)} of {address} do not hold this "
                             "process's CPU settings (depthlab.cpu), so they would compute "
                             "other numbers: start them with the same exports, export "
                             f"{exports}, then dask worker {address}")
    except TimeoutError:
        client.close()
        raise ConnectionError(f"the scheduler at {address} has no workers (waited "
                              f"{CONNECT_TIMEOUT} s): start some with dask worker {address}") \
            from None
    except BaseException:
        client.close()
        raise
    return client


def client(scheduler: str | None = None):
    """The `distributed.Client` the studies submit to, created on first use and kept.

    Parameters
    ----------
    scheduler : str, optional
        ``"tcp://host:port"`` of a running Dask scheduler, or `IN_PROCESS`; by default
        ``$DEPTHLAB_SCHEDULER``, and without it a local cluster of `local_workers` processes
        (in-process when that is 0).

    Returns
    -------
    distributed.Client
        The client kept for ``scheduler``; a new one if there was none or it was closed.

    Raises
    ------
    ValueError
        A malformed address, or workers that cannot import this package or run another
        version of it.
    ConnectionError
        No scheduler answers at the address, or it has no workers, within `CONNECT_TIMEOUT`.
    """
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_VARIABLE) or None
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be an address string, got {type(scheduler).__name__}")
    key = scheduler if scheduler is not None else local_workers()
    found = _CLIENTS.get(key)
    if found is not None and found.status == "running":
        return found
    if scheduler == IN_PROCESS:
        made = _start_local(0)
    elif scheduler is None:
        made = _start_local(key)
    else:
        made = _connect(scheduler)
    _CLIENTS[key] = made
    return made


def local_client(n_workers: int):
    """A client of a new local cluster of ``n_workers`` processes (0: in-process), not shared
    with the studies: for measuring how throughput scales. Closing it (it is a context
    manager) stops its cluster.

    Parameters
    ----------
    n_workers : int
        Worker processes, >= 0; 0 runs one worker thread in this process.

    Returns
    -------
    distributed.Client
        A new client that owns its cluster; the caller closes it.
    """
    if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 0:
        raise ValueError(f"n_workers must be a non-negative integer, got {n_workers!r}")
    return _start_local(n_workers)


def shutdown() -> None:
    """Closes every client `client` made, and stops the local clusters they own."""
    while _CLIENTS:
        _CLIENTS.popitem()[1].close()


@dataclasses.dataclass(frozen=True)
class Task:
    """One finished job: what it was, the worker that ran it, and when (seconds after the
    first job was submitted; ``start`` to ``stop`` is the job's own computation)."""

    label: str
    worker: str
    start: float
    stop: float

    @property
    def seconds(self) -> float:
        return self.stop - self.start


def _timed(function, args):
    """Worker: ``function(*args)`` with its wall-clock start and stop and the worker's name."""
    from distributed import get_worker
    start = time.time()
    result = function(*args)
    return result, get_worker().address, start, time.time()


def run(function, jobs, *, labels=None, desc: str | None = None, progress: bool = True,
        scheduler: str | None = None, on=None, keep=None) -> tuple[list, list]:
    """``[function(*job) for job in jobs]`` on the cluster, in the order of ``jobs``.

    Parameters
    ----------
    function : callable
        Importable by name (a module-level function of this package): the workers look it up.
    jobs : iterable of tuple
        The arguments of each job. Equal jobs are computed once.
    labels : sequence of str, optional
        A name for each job, for the task records.
    desc : str, optional
        The progress bar's title.
    progress : bool
        Show a progress bar over the jobs, advanced as each one finishes.
    scheduler : str, optional
        As in `client`.
    on : distributed.Client, optional
        Submit to this client instead (from `local_client`).
    keep : callable, optional
        ``keep(i, result)`` is called here as soon as job ``i`` has finished, for instance to
        write its result to the cache, so that an interrupted study keeps what is done.

    Returns
    -------
    results : list
    tasks : list of Task
        Where and when each job ran, in the order of ``jobs``.
    """
    import distributed
    jobs = [tuple(job) for job in jobs]
    labels = [str(i) for i in range(len(jobs))] if labels is None else list(labels)
    if len(labels) != len(jobs):
        raise ValueError(f"labels must name every job: {len(labels)} for {len(jobs)} jobs")
    if not jobs:
        return [], []
    pool = on if on is not None else client(scheduler)
    first = time.time()
    futures, where = {}, {}
    for i, job in enumerate(jobs):
        future = pool.submit(_timed, function, job)  # equal jobs share a key, and a future
        futures.setdefault(future.key, future)
        where.setdefault(future.key, []).append(i)
    finished = [None] * len(jobs)
    with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
        for future in distributed.as_completed(list(futures.values()), loop=pool.loop):
            for i in where[future.key]:
                finished[i] = future.result()
                if keep is not None:
                    keep(i, finished[i][0])
            bar.update(len(where[future.key]))
    workers = sorted({worker for _, worker, _, _ in finished})
    tasks = [Task(label, f"worker {workers.index(worker)}", start - first, stop - first)
             for label, (_, worker, start, stop) in zip(labels, finished)]
    return [result for result, _, _, _ in finished], tasks


def schedule(seconds, workers: int) -> list:
    """Projects jobs of known durations onto ``workers`` workers, as a scheduler would run
    them: the longest first, each on the worker that is free first (Graham's LPT rule). The
    wall time is at least the longest job and at least the total over ``workers``, and at
    most their sum.

    Parameters
    ----------
    seconds : sequence of float
        Each job's duration, >= 0.
    workers : int
        Workers, >= 1.

    Returns
    -------
    list of Task
        Per job, in the order given: its worker ("worker 0", ...), start and stop, labelled
        by its index.
    """
    seconds = [float(s) for s in seconds]
    if any(not s >= 0 for s in seconds):
        raise ValueError("seconds must be durations >= 0")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    free = [(0.0, w) for w in range(workers)]  # (time it is free, worker), a heap
    placed = [None] * len(seconds)
    for i in sorted(range(len(seconds)), key=lambda i: -seconds[i]):
        start, worker = heapq.heappop(free)
        placed[i] = Task(str(i), f"worker {worker}", start, start + seconds[i])
        heapq.heappush(free, (start + seconds[i], worker))
    return placed
