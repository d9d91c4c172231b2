"""depthlab.timing: interleaved rounds, the fastest kept, threads held and restored."""
import time

import cv2
import pytest
import threadpoolctl
import torch

from depthlab import timing


def test_calls_take_turns_and_the_fastest_round_counts():
    order, slow_first = [], iter([0.05, 0.0, 0.0])

    def a():
        order.append("a")
        time.sleep(next(slow_first))

    def b():
        order.append("b")

    best = timing.fastest({"a": a, "b": b}, repeats=3)
    assert order == ["a", "b"] * 3
    assert list(best) == ["a", "b"]
    assert best["a"] < 0.05  # the disturbed first round does not count
    assert all(v >= 0 for v in best.values())


def test_a_longer_call_measures_longer():
    best = timing.fastest({"short": lambda: time.sleep(0.001), "long": lambda: time.sleep(0.02)},
                          repeats=2)
    assert best["long"] >= 0.02 > best["short"]


def _pools():
    return (torch.get_num_threads(), cv2.getNumThreads(),
            *(pool["num_threads"] for pool in threadpoolctl.threadpool_info()))


def test_threads_are_held_inside_and_restored_after():
    before, seen = _pools(), []
    timing.fastest({"probe": lambda: seen.append(_pools())}, repeats=1, n_threads=1)
    assert len(seen) == 1 and set(seen[0]) == {1}  # numpy's BLAS included
    assert _pools() == before


def test_threads_are_restored_when_the_body_raises():
    before = _pools()
    with pytest.raises(RuntimeError), timing.threads(1):
        raise RuntimeError("inside")
    assert _pools() == before


@pytest.mark.parametrize("calls, kwargs, error, message", [
    ([lambda: None], {}, TypeError, "dict of callables"),
    ({"a": 1}, {}, TypeError, "dict of callables"),
    ({}, {}, ValueError, "at least one"),
    ({"a": lambda: None}, {"repeats": 0}, ValueError, "repeats"),
    ({"a": lambda: None}, {"repeats": 1.5}, TypeError, "repeats"),
    ({"a": lambda: None}, {"n_threads": 0}, ValueError, "n_threads"),
])
def test_bad_input_is_refused_with_what_was_expected(calls, kwargs, error, message):
    with pytest.raises(error, match=message):
        timing.fastest(calls, **kwargs)
