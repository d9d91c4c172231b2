"""Wall-clock timings that another program on the machine cannot flip.

A timing taken while other work runs is longer by however much of the CPU that work took, and
two methods timed one after the other can meet different loads. `fastest` lets the methods
take turns, round after round, and keeps each one's shortest round: the round least disturbed,
and the same rounds' conditions for every method. Every pool of threads that computes
(PyTorch's, OpenCV's, and the BLAS and OpenMP pools that NumPy and SciPy call, through
threadpoolctl) is held to the same number of threads meanwhile, so the methods compete on equal
terms, and a pool that spins while waiting for cores another program holds cannot multiply the
time.
"""
import contextlib
import timeit

import cv2
import threadpoolctl
import torch

from depthlab import _checks

__all__ = ["fastest", "threads"]


@contextlib.contextmanager
def threads(n: int):
    """Runs the body with PyTorch, OpenCV and the native BLAS and OpenMP thread pools on ``n``
    threads each, and restores them all after.

    Parameters
    ----------
    n : int
        The number of threads, at least 1.

    Yields
    ------
    None

    Raises
    ------
    ValueError
        If ``n`` is less than 1.
    TypeError
        If ``n`` is not an integer.
    """
    n = _checks.integer("n", n, low=1)
    saved = torch.get_num_threads(), cv2.getNumThreads()
    with threadpoolctl.threadpool_limits(limits=n):
        torch.set_num_threads(n)
        cv2.setNumThreads(n)
        try:
            yield
        finally:
            torch.set_num_threads(saved[0])
            cv2.setNumThreads(saved[1])


def fastest(calls: dict, *, repeats: int = 5, n_threads: int = 1) -> dict:
    """The shortest wall time of each call over ``repeats`` rounds in which the calls take turns.

    In every round each call runs once, in the order of ``calls``, with Python's garbage
    collector paused while it runs (`timeit`). Taking the minimum over the rounds removes most
    of what other programs on the machine add, and interleaving makes every call meet the same
    conditions, so a ratio of two results holds on a busy machine as on an idle one.

    Parameters
    ----------
    calls : dict of str to callable
        The work to time, each a callable without arguments, by name.
    repeats : int
        The number of rounds, at least 1.
    n_threads : int
        The threads each pool may use meanwhile (`threads`); 1 by default, one core.

    Returns
    -------
    dict of str to float
        The shortest round of each call, in seconds, under the same names.

    Raises
    ------
    TypeError
        If ``calls`` is not a dict of callables, or ``repeats`` or ``n_threads`` is not an
        integer.
    ValueError
        If ``calls`` is empty, or ``repeats`` or ``n_threads`` is less than 1.
    """
    if not isinstance(calls, dict) or not all(callable(c) for c in calls.values()):
        raise TypeError(f"calls must be a dict of callables by name, got {calls!r}")
    if not calls:
        raise ValueError("calls must name at least one callable to time, got an empty dict")
    repeats = _checks.integer("repeats", repeats, low=1)
    n_threads = _checks.integer("n_threads", n_threads, low=1)
    best = dict.fromkeys(calls, float("inf"))
    with threads(n_threads):
        for _ in range(repeats):
            for name, call in calls.items():
                best[name] = min(best[name], timeit.Timer(call).timeit(number=1))
    return best
