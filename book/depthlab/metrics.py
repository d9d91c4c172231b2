"""Depth metrics on valid pixels, with median scaling for scale-ambiguous predictions.

The definitions are those of Eigen et al. (2014) as implemented in Monodepth2's evaluation
code (Godard et al., 2019). A pixel counts when both the ground truth and the prediction are
finite and positive (and the optional mask allows it); NaN, inf and non-positive values are
invalid.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import map_coordinates

__all__ = ["SCENE_METRICS", "DepthMetrics", "bad_pixel_rate", "correct_matches", "depth_metrics",
           "mean_metrics", "scene_scores"]


@dataclasses.dataclass(frozen=True)
class DepthMetrics:
    """Depth errors of one prediction (lower is better, except the δ accuracies).

    Attributes
    ----------
    absrel : float
        Mean of ``|pred - gt| / gt``.
    sqrel : float
        Mean of ``(pred - gt)**2 / gt``.
    rmse : float
        Root mean square error, in the units of ``gt``.
    rmse_log : float
        Root mean square error of ``log(pred) - log(gt)``.
    delta1, delta2, delta3 : float
        Share of pixels with ``max(pred / gt, gt / pred) < 1.25**k`` for k = 1, 2, 3.
    scale : float
        The factor the prediction was multiplied by (1.0 without median scaling).
    coverage : float
        Share of the valid ground-truth pixels where the prediction was valid too.
    """

    absrel: float
    sqrel: float
    rmse: float
    rmse_log: float
    delta1: float
    delta2: float
    delta3: float
    scale: float
    coverage: float


def _as_float_image(name, value):
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.dtype == bool or not (np.issubdtype(value.dtype, np.floating)
                                   or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) array, got shape {value.shape}")
    if value.size == 0:
        raise ValueError(f"{name} must not be empty")
    return value.astype(np.float64)


def _valid_pixels(pred, gt, mask, names=("pred", "gt")):
    pred = _as_float_image(names[0], pred)
    gt = _as_float_image(names[1], gt)
    if pred.shape != gt.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {pred.shape} "
                         f"and {gt.shape}")
    gt_valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        if not isinstance(mask, np.ndarray) or mask.dtype != bool:
            raise TypeError("mask must be a boolean numpy array")
        if mask.shape != gt.shape:
            raise ValueError(f"mask must have the shape {gt.shape} of {names[1]}, got {mask.shape}")
        gt_valid &= mask
    if not gt_valid.any():
        raise ValueError(f"{names[1]} has no valid pixel (finite, > 0 and inside the mask)")
    valid = gt_valid & np.isfinite(pred) & (pred > 0)
    return pred, gt, valid, gt_valid


def depth_metrics(pred: np.ndarray, gt: np.ndarray, *, mask: np.ndarray | None = None,
                  median_scaling: bool = True) -> DepthMetrics:
    """Scores a depth map against the ground truth.

    Parameters
    ----------
    pred, gt : (H, W) arrays of real numbers
        Predicted and true depth. Any positive unit works for ``pred`` when
        ``median_scaling`` is on.
    mask : (H, W) bool array, optional
        Pixels to score (in addition to the validity rule above).
    median_scaling : bool
        Multiply the prediction by ``median(gt) / median(pred)`` over the valid pixels
        first, as for methods that only know depth up to scale.

    Returns
    -------
    DepthMetrics

    Raises
    ------
    ValueError
        If the shapes differ or no pixel is valid. A prediction with no valid pixel gets
        the worst scores (δ = 0, errors = inf) rather than an error.
    """
    pred, gt, valid, gt_valid = _valid_pixels(pred, gt, mask)
    if not valid.any():
        inf = float("inf")
        return DepthMetrics(inf, inf, inf, inf, 0.0, 0.0, 0.0, float("nan"), 0.0)
    p, g = pred[valid], gt[valid]
    scale = float(np.median(g) / np.median(p)) if median_scaling else 1.0
    p = p * scale
    ratio = np.maximum(p / g, g / p)
    return DepthMetrics(
        absrel=float(np.mean(np.abs(p - g) / g)),
        sqrel=float(np.mean((p - g) ** 2 / g)),
        rmse=float(np.sqrt(np.mean((p - g) ** 2))),
        rmse_log=float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        delta1=float(np.mean(ratio < 1.25)),
        delta2=float(np.mean(ratio < 1.25 ** 2)),
        delta3=float(np.mean(ratio < 1.25 ** 3)),
        scale=scale,
        coverage=float(valid.sum() / gt_valid.sum()),
    )


def mean_metrics(metrics) -> DepthMetrics:
    """Averages per-image metrics over a test set, as Monodepth2 does.

    Parameters
    ----------
    metrics : sequence of DepthMetrics
        One entry per image; must not be empty.

    Returns
    -------
    DepthMetrics
        Each field the mean of that field over the images.
    """
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must hold at least one DepthMetrics")
    if not all(isinstance(m, DepthMetrics) for m in metrics):
        raise TypeError("metrics must hold DepthMetrics objects")
    names = [f.name for f in dataclasses.fields(DepthMetrics)]
    return DepthMetrics(**{n: float(np.mean([getattr(m, n) for m in metrics])) for n in names})


def bad_pixel_rate(pred_disparity: np.ndarray, gt_disparity: np.ndarray,
                   *, threshold: float = 1.0, mask: np.ndarray | None = None) -> float:
    """Share of valid pixels whose disparity is off by more than ``threshold`` pixels.

    This is the Middlebury "bad N" measure. A pixel is valid where the ground truth is
    finite and positive; an invalid prediction on such a pixel counts as bad.

    Parameters
    ----------
    pred_disparity, gt_disparity : (H, W) arrays of real numbers
        Disparities in pixels.
    threshold : float
        Error in pixels above which a pixel is bad (> 0).
    mask : (H, W) bool array, optional
        Pixels to score.

    Returns
    -------
    float
        The share of bad pixels among the valid ones, in [0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
        raise TypeError(f"threshold must be a number, got {type(threshold).__name__}")
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    pred, gt, valid, gt_valid = _valid_pixels(pred_disparity, gt_disparity, mask,
                                              ("pred_disparity", "gt_disparity"))
    error = np.abs(np.where(valid, pred, np.inf)[gt_valid] - gt[gt_valid])
    return float(np.mean(error > threshold))


#: What `scene_scores` records, and whether larger is better: AbsRel, δ1 and the bad-pixel
#: rate (disparity off by more than 1 px after median scaling), on all pixels and, with the
#: suffix ``_noc``, on the non-occluded ones.
SCENE_METRICS = {"absrel": False, "delta1": True, "bad1": False,
                 "absrel_noc": False, "delta1_noc": True, "bad1_noc": False}


def scene_scores(pred: np.ndarray, gt: np.ndarray, gt_disparity: np.ndarray,
                 visible: np.ndarray) -> dict:
    """Per-image scores of relative depth maps, as stereo and depth benchmarks report them.

    Parameters
    ----------
    pred : (N, H, W) array
        Predicted depth, up to one scale per image.
    gt : (N, H, W) array
        True depth.
    gt_disparity : (N, H, W) array
        True disparity in pixels (``focal * baseline / gt``).
    visible : (N, H, W) bool array
        Non-occluded pixels: seen in both frames.

    Returns
    -------
    dict
        `SCENE_METRICS` name to an (N,) array. AbsRel and δ1 are `depth_metrics` (median
        scaling). The bad-pixel rate scales the predicted disparity ``1 / pred`` by its
        median ratio to the true one over the scored pixels, then applies `bad_pixel_rate`
        with a 1-pixel threshold.
    """
    arrays = [np.asarray(a) for a in (pred, gt, gt_disparity, visible)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 3:
        raise ValueError("pred, gt, gt_disparity and visible must share one (N, H, W) shape, "
                         f"got {[a.shape for a in arrays]}")
    if arrays[3].dtype != bool:
        raise TypeError(f"visible must be a boolean array, got dtype {arrays[3].dtype}")
    pred, gt, gt_disparity, visible = arrays
    out = {name: np.zeros(len(pred)) for name in SCENE_METRICS}
    for i in range(len(pred)):
        with np.errstate(divide="ignore", invalid="ignore"):
            disparity = np.where(pred[i] > 0, 1.0 / pred[i].astype(np.float64), np.nan)
        for suffix, mask in (("", None), ("_noc", visible[i])):
            scores = depth_metrics(pred[i], gt[i], mask=mask)
            out["absrel" + suffix][i], out["delta1" + suffix][i] = scores.absrel, scores.delta1
            valid = np.isfinite(disparity) & (True if mask is None else mask)
            scale = (np.median(gt_disparity[i][valid]) / np.median(disparity[valid])
                     if valid.any() else 1.0)
            out["bad1" + suffix][i] = bad_pixel_rate(disparity * scale, gt_disparity[i],
                                                     threshold=1.0, mask=mask)
    return out


def correct_matches(points0: np.ndarray, points1: np.ndarray, flow: np.ndarray,
                    *, tolerance: float = 1.0) -> np.ndarray:
    """Which matches agree with the ground-truth flow.

    Parameters
    ----------
    points0, points1 : (M, 2) arrays
        Matched positions ``(x, y)`` in pixels in frame 0 and frame 1.
    flow : (H, W, 2) array
        True flow from frame 0 to frame 1, in pixels.
    tolerance : float
        Largest distance in pixels between ``points1`` and the true position (> 0).

    Returns
    -------
    (M,) bool array
        True where ``points1`` lies within ``tolerance`` of ``points0`` moved by the true flow
        (bilinearly interpolated at ``points0``).
    """
    for name, value in (("points0", points0), ("points1", points1)):
        if not isinstance(value, np.ndarray) or value.ndim != 2 or value.shape[1:] != (2,):
            raise ValueError(f"{name} must be an (M, 2) array")
    if points0.shape != points1.shape:
        raise ValueError(f"points0 and points1 must have the same shape, got {points0.shape} "
                         f"and {points1.shape}")
    if not isinstance(flow, np.ndarray) or flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError("flow must be an (H, W, 2) array")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.floating)):
        raise TypeError(f"tolerance must be a number, got {type(tolerance).__name__}")
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    coordinates = [points0[:, 1], points0[:, 0]]
    true_flow = np.stack([map_coordinates(flow[..., k], coordinates, order=1, mode="nearest")
                          for k in range(2)], 1)
    return np.linalg.norm(points1 - points0 - true_flow, axis=1) <= tolerance
