"""The book's one statistical tool, the bootstrap: resampling what varies (the test scenes,
shared by every method compared so that comparisons are paired scene by scene, and the training
seeds) and reading intervals off the replicates. The studies, the loop's gate and the chapters
all use it.
"""
from __future__ import annotations

import numpy as np
import scipy.stats

__all__ = ["bootstrap_means", "interval", "lower_bound", "paired_interval", "resample",
           "seed_interval"]


def resample(n_scenes: int, replicates: int = 1000, seed: int = 0) -> np.ndarray:
    """Weights of a scene bootstrap: (replicates, n_scenes) counts of each scene in each
    resample (multinomial, each row summing to ``n_scenes``), so that the resampled mean of
    per-scene scores ``x`` is ``weights @ x / n_scenes``. The same weights for every method
    pair the comparisons scene by scene.

    Parameters
    ----------
    n_scenes : int
        Number of scenes, at least 2.
    replicates : int
        Number of resamples, at least 1.
    seed : int
        Seeds the random generator.

    Returns
    -------
    (replicates, n_scenes) int array
        The count of each scene in each resample.
    """
    n_scenes = int(n_scenes)
    if n_scenes < 2 or replicates < 1:
        raise ValueError(f"need at least 2 scenes and 1 replicate, got {n_scenes} and "
                         f"{replicates}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_scenes, np.full(n_scenes, 1.0 / n_scenes), size=replicates)


def bootstrap_means(scores, weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of the mean over seeds and scenes.

    Parameters
    ----------
    scores : (S, n) array, or a list of them
        Per-seed, per-scene scores of one configuration (S seeds, S >= 1); a list gives one
        configuration per entry (for example one per training-set size), each with its own
        number of seeds.
    weights : (B, n) array
        Scene resamples from `resample`, shared by everything that is compared.
    seed : int
        Seeds the resampling of the seeds.

    Returns
    -------
    (B,) array, or (len(scores), B)
        Each replicate's mean: the scenes resampled with ``weights`` and, independently, the
        seeds resampled with replacement.
    """
    weights = np.asarray(weights, float)
    if isinstance(scores, list):
        return np.stack([bootstrap_means(s, weights, seed + k) for k, s in enumerate(scores)])
    scores = np.atleast_2d(np.asarray(scores, float))
    if scores.shape[1] != weights.shape[1]:
        raise ValueError(f"scores have {scores.shape[1]} scenes, the weights "
                         f"{weights.shape[1]}")
    # einsum's own loops, not BLAS: the sums come out the same, bit for bit, whatever the
    # number of threads, so the intervals printed from them do too.
    per_seed = np.einsum("sn,bn->sb", scores, weights, optimize=False) / weights.shape[1]
    if len(scores) == 1:
        return per_seed[0]
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(scores), (weights.shape[0], len(scores)))
    return per_seed[drawn, np.arange(weights.shape[0])[:, None]].mean(1)


def interval(replicates, level: float = 0.95) -> list:
    """The percentile interval ``[low, high]`` of bootstrap replicates (the last axis).

    Parameters
    ----------
    replicates : array
        Bootstrap replicates along the last axis, for example from `bootstrap_means`.
    level : float
        Coverage of the interval.

    Returns
    -------
    list
        ``[low, high]``: two floats for (B,) replicates, else two lists of the leading shape.
    """
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(np.asarray(replicates, float), [tail, 100.0 - tail], axis=-1)
    return [low.tolist() if np.ndim(low) else float(low),
            high.tolist() if np.ndim(high) else float(high)]


def paired_interval(a, b, *, replicates: int = 1000, level: float = 0.95) -> list:
    """The `interval` of the mean of ``a - b``: per-scene scores of two methods on the same
    scenes, (n,) or (seeds, n) arrays paired seed by seed, resampled as `bootstrap_means` does
    (scenes with `resample`, and seeds).

    Parameters
    ----------
    a, b : (n,) or (S, n) arrays
        Per-scene scores of the two methods, of the same shape.
    replicates : int
        Number of bootstrap resamples.
    level : float
        Coverage of the interval.

    Returns
    -------
    list
        ``[low, high]``, two floats: the interval of the mean difference.
    """
    difference = np.asarray(a, float) - np.asarray(b, float)
    return interval(bootstrap_means(difference, resample(difference.shape[-1], replicates)),
                    level)


def lower_bound(values, confidence: float, *, replicates: int = 2000, seed: int = 0) -> float:
    """The one-sided percentile bootstrap lower bound of the mean of ``values``: the mean is
    above it with probability ``confidence``.

    Parameters
    ----------
    values : (n,) array
        Per-scene values, n >= 2, for example paired differences.
    confidence : float
        The level, in (0.5, 1).
    replicates : int
        Number of resamples.
    seed : int
        Seeds the resampling.

    Returns
    -------
    float
        The bound; the value itself when all values are equal (nothing to resample).
    """
    values = np.asarray(values, float)
    if np.ptp(values) == 0:
        return float(values[0])
    return float(scipy.stats.bootstrap(
        (values,), np.mean, n_resamples=replicates, confidence_level=confidence,
        alternative="greater", method="percentile",
        rng=np.random.default_rng(seed)).confidence_interval.low)


def seed_interval(values, *, replicates: int = 2000, seed: int = 0,
                  level: float = 0.95) -> tuple:
    """The mean of one value per training seed, with the percentile `interval` of the seeds
    resampled with replacement.

    Parameters
    ----------
    values : (S,) array
        One value per seed.
    replicates : int
        Number of resamples.
    seed : int
        Seeds the resampling.
    level : float
        Coverage of the interval.

    Returns
    -------
    tuple
        ``(mean, [low, high])``.
    """
    values = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (replicates, len(values)))].mean(1)
    return float(values.mean()), interval(means, level)
