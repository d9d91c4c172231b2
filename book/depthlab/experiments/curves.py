"""Learning-curve maths: errors from scores, the power law a curve follows, and where one curve
crosses a flat line, with its bootstrap distribution."""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize

__all__ = ["METRICS", "Crossover", "PowerLaw", "as_error", "bootstrap_crossover", "crossing",
           "fit_power_law"]

#: The metrics the studies record, and whether larger is better.
METRICS = {"absrel": False, "delta1": True}


@dataclasses.dataclass(frozen=True)
class PowerLaw:
    """A learning curve ``error(N) = alpha * N**beta + floor`` (Hestness et al., 2017)."""

    alpha: float
    beta: float
    floor: float

    def __call__(self, n):
        return self.alpha * np.asarray(n, float) ** self.beta + self.floor

    def reaches(self, error: float) -> float:
        """The N at which the curve falls to ``error`` (inf if it never does)."""
        if error <= self.floor:
            return float("inf")
        return float(((error - self.floor) / self.alpha) ** (1.0 / self.beta))


def fit_power_law(sizes, errors) -> PowerLaw:
    """Least-squares fit of `PowerLaw` to errors (lower is better) at training-set sizes.

    Parameters
    ----------
    sizes : (K,) array of positive numbers, K >= 3
        The training-set sizes.
    errors : (K,) array, or (K, S) for S seeds (fitted to every seed's points at once)
        The finite errors at each size.

    Returns
    -------
    PowerLaw
        The fitted curve, with ``alpha >= 0``, ``-3 <= beta <= 0`` and ``floor >= 0``.
    """
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    if sizes.ndim != 1 or len(sizes) < 3 or (sizes <= 0).any():
        raise ValueError("sizes must be at least 3 positive numbers")
    if errors.shape[0] != len(sizes) or errors.ndim > 2 or not np.isfinite(errors).all():
        raise ValueError(f"errors must be finite, shaped ({len(sizes)},) or ({len(sizes)}, "
                         f"seeds), got {errors.shape}")
    n = np.broadcast_to(sizes.reshape(-1, *([1] * (errors.ndim - 1))), errors.shape).ravel()
    e = errors.ravel()
    start = (max(e.max() - e.min(), 1e-6) * 16 ** 0.5, -0.5, max(e.min() * 0.9, 0.0))
    (alpha, beta, floor), _ = scipy.optimize.curve_fit(
        lambda x, a, b, c: a * x ** b + c, n, e, p0=start,
        bounds=([0.0, -3.0, 0.0], [np.inf, 0.0, np.inf]), maxfev=20000)
    return PowerLaw(float(alpha), float(beta), float(floor))


def as_error(metric: str, values):
    """Values of ``metric`` as errors, lower is better: ``1 - delta1``, AbsRel unchanged.

    Parameters
    ----------
    metric : str
        A key of `METRICS`: ``"absrel"`` or ``"delta1"``.
    values : float or array
        Values of the metric.

    Returns
    -------
    array
        The errors, of the shape of ``values``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return 1.0 - np.asarray(values) if METRICS[metric] else np.asarray(values)


def crossing(sizes, gap) -> np.ndarray:
    """Per seed, the training-set size from which a curve stays better than a flat line.

    Parameters
    ----------
    sizes : (K,) increasing positive numbers
    gap : (K, S) array
        The curve's error minus the line's, per size and seed (negative: the curve is better).

    Returns
    -------
    (S,) array
        Interpolated in log N between the two sizes around the last crossing; NaN where the
        curve is not better at the largest size, ``sizes[0]`` where it is better everywhere.
    """
    sizes, gap = np.asarray(sizes, float), np.asarray(gap, float)
    if sizes.ndim != 1 or (sizes <= 0).any() or gap.ndim != 2 or gap.shape[0] != len(sizes):
        raise ValueError(f"gap must be shaped (sizes, seeds) for {len(sizes)} positive sizes, "
                         f"got {gap.shape}")
    logs = np.log(sizes)
    result = np.full(gap.shape[1], np.nan)
    for s in range(gap.shape[1]):
        worse = np.flatnonzero(gap[:, s] >= 0)
        if len(worse) == 0:
            result[s] = sizes[0]
        elif worse[-1] < len(sizes) - 1:
            i = worse[-1]
            t = gap[i, s] / (gap[i, s] - gap[i + 1, s])
            result[s] = float(np.exp(logs[i] + t * (logs[i + 1] - logs[i])))
    return result


@dataclasses.dataclass(frozen=True)
class Crossover:
    """Where a learning curve passes a flat line, with its bootstrap distribution.

    Attributes
    ----------
    median : float or None
        Median over the replicates; None when it is not identified.
    interval : (float, float) or None
        The 95% percentile interval; None when it leaves the measured sizes.
    below, above : float
        Shares of the replicates in which the curve is better at every size (the crossover
        lies below the grid) or not better at the largest (it lies above it).
    reason : str or None
        Why the crossover is not identified, in words.
    """

    median: float | None
    interval: tuple | None
    below: float
    above: float
    reason: str | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def bootstrap_crossover(sizes, gaps, level: float = 0.95) -> Crossover:
    """The crossover N from bootstrap replicates of a gap.

    Parameters
    ----------
    sizes : (K,) increasing positive numbers
    gaps : (K, B) array
        Replicates of the curve's error minus the line's at each size (negative: better).
    level : float
        Coverage of the interval.

    Returns
    -------
    Crossover
        Identified when at most the interval's tail share of replicates puts the crossing
        outside the grid on either side.
    """
    sizes, gaps = np.asarray(sizes, float), np.asarray(gaps, float)
    cross = crossing(sizes, gaps)
    above = float(np.mean(np.isnan(cross)))
    below = float(np.mean(cross == sizes[0]))
    tail = (1.0 - level) / 2.0
    reason = None
    if above > tail:
        reason = (f"in {above:.0%} of the resamples the learned curve is not better at the "
                  f"largest size, {sizes[-1]:.0f}")
    elif below > tail:
        reason = (f"in {below:.0%} of the resamples the learned curve is better at every "
                  f"size, down to {sizes[0]:.0f}")
    # NaN (no crossing) counts as beyond the grid, above every measured size.
    filled = np.where(np.isnan(cross), np.inf, cross)
    # Order statistics, not interpolation: some replicates may be infinite.
    median, low, high = np.quantile(filled, [0.5, tail, 1 - tail], method="inverted_cdf")
    return Crossover(median=None if not np.isfinite(median) else round(float(median), 1),
                     interval=None if reason else (round(float(low), 1), round(float(high), 1)),
                     below=round(below, 4), above=round(above, 4), reason=reason)
