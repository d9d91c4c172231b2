"""The bootstrap: scene resamples shared by the methods compared, seed resamples, intervals,
the gate's one-sided bound and the seed interval."""
import numpy as np
import pytest

from depthlab import bootstrap


def test_resampling_weights_and_means():
    rng = np.random.default_rng(0)
    weights = bootstrap.resample(50, 200)
    assert weights.shape == (200, 50) and (weights.sum(1) == 50).all()
    constant = np.full((3, 50), 0.25)
    assert np.allclose(bootstrap.bootstrap_means(constant, weights), 0.25)
    spread = bootstrap.bootstrap_means(rng.normal(0, 1, (1, 50)), weights)
    assert 0.05 < spread.std() < 0.3  # about 1 / sqrt(50)
    low, high = bootstrap.interval(spread)
    assert low < np.median(spread) < high
    with pytest.raises(ValueError, match="scenes"):
        bootstrap.bootstrap_means(np.zeros((2, 40)), weights)


def test_a_paired_interval_sees_a_shift_that_the_scenes_hide():
    rng = np.random.default_rng(1)
    scenes = rng.normal(0.2, 0.05, 60)  # scene difficulty, shared by both methods
    low, high = bootstrap.paired_interval(scenes + 0.01, scenes)
    assert np.isclose(low, 0.01) and np.isclose(high, 0.01)
    seeds = np.stack([scenes, scenes + 0.002])  # (seeds, scenes), paired seed by seed
    low, high = bootstrap.paired_interval(seeds - 0.01 + rng.normal(0, 0.001, (2, 60)), seeds)
    assert low < -0.01 < high < 0
    with pytest.raises(ValueError, match="scenes"):
        bootstrap.paired_interval(np.zeros(1), np.zeros(1))


def test_the_one_sided_bound_lies_below_the_mean_and_rises_with_the_gain():
    rng = np.random.default_rng(2)
    gain = rng.normal(0.01, 0.02, 48)
    bound = bootstrap.lower_bound(gain, 0.9)
    assert bound < gain.mean()
    assert bootstrap.lower_bound(gain + 0.05, 0.9) > bound
    assert bootstrap.lower_bound(gain, 0.99) < bound  # surer, so lower
    assert bootstrap.lower_bound(np.full(10, 0.3), 0.9) == 0.3  # nothing to resample
    assert bootstrap.lower_bound(gain, 0.9, seed=5) == bootstrap.lower_bound(gain, 0.9, seed=5)


def test_the_seed_interval_holds_the_mean_of_the_seeds():
    values = np.array([0.61, 0.64, 0.58, 0.66, 0.60])
    mean, (low, high) = bootstrap.seed_interval(values)
    assert mean == pytest.approx(values.mean())
    assert values.min() <= low < mean < high <= values.max()
