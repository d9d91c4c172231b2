"""Explaining a depth map: per-pixel confidence, the evidence behind it, and how well it
predicts the error.

Each method gets a confidence of its own kind:

* the classical pipeline's is its evidence: the inlier matches (`classical.run_pipeline`),
  how many support each region (`classical_evidence`), and how far each pixel is from the
  nearest one; interpolated depth far from any match is a guess;
* the learned model's is its uncertainty: the spread of its log depth over the four flips of
  the input, a small test-time ensemble (`learned_uncertainty`); and, as an attribution
  view, the gradient of one pixel's depth with respect to the input frames (`saliency`).

`sparsification` measures whether a confidence ranks pixels by their error: it removes the
least confident pixels step by step and records the mean error of the rest, next to the
oracle that removes the truly worst pixels first (Ilg et al., 2018). `ause`, the area between
the two curves, is 0 for a perfect ranking.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt

from . import _checks, classical, learned, metrics

__all__ = ["FRACTIONS", "Evidence", "ause", "classical_evidence", "learned_uncertainty",
           "match_distance", "pixel_error", "relative_log_depth", "saliency", "sparsification"]

#: The shares of pixels removed along a sparsification curve.
FRACTIONS = np.linspace(0.0, 0.9, 19)

_FLIPS = ((), (-1,), (-2,), (-2, -1))  # image axes of a (..., H, W) array


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What supports the classical pipeline's depth at every pixel.

    Attributes
    ----------
    distance : (H, W) float array
        Distance in pixels to the nearest inlier match (inf when there is none).
    support : (H, W) float array
        Inlier matches within ``radius`` pixels.
    radius : float
        The radius of ``support``, in pixels.
    """

    distance: np.ndarray
    support: np.ndarray
    radius: float


def _check_result(result):
    if not isinstance(result, classical.PipelineResult):
        raise TypeError(f"result must be a classical.PipelineResult, got "
                        f"{type(result).__name__}")


def match_distance(result: classical.PipelineResult) -> np.ndarray:
    """(H, W) distance in pixels from every pixel to the nearest inlier match of a
    `classical.run_pipeline` result; inf everywhere when the result is unreliable.

    Parameters
    ----------
    result : classical.PipelineResult
        What `classical.run_pipeline` returned.

    Returns
    -------
    (H, W) float array
        Euclidean distance to the nearest inlier match, in pixels (0 on a match).
    """
    _check_result(result)
    shape = result.depth.shape
    if not result.reliable:
        return np.full(shape, np.inf)
    seeds = np.zeros(shape, bool)
    pixels = np.clip(np.round(result.points).astype(int), 0, np.array(shape[::-1]) - 1)
    seeds[pixels[:, 1], pixels[:, 0]] = True
    return distance_transform_edt(~seeds)


def classical_evidence(result: classical.PipelineResult, radius: float = 8.0) -> Evidence:
    """The evidence behind a `classical.run_pipeline` result, per pixel.

    Parameters
    ----------
    result : classical.PipelineResult
    radius : float
        Radius in pixels of the neighbourhood whose inliers count as its support (> 0).

    Returns
    -------
    Evidence
        With no reliable estimate (too few inliers), the distance is inf and the support 0
        everywhere: the constant depth map rests on no evidence.
    """
    _check_result(result)
    radius = _checks.number("radius", radius, 1e-6, 1e6)
    shape = result.depth.shape
    support = np.zeros(shape)
    if result.reliable:
        ys, xs = np.mgrid[:shape[0], :shape[1]]
        for x, y in result.points:  # a few hundred points at most
            support += (xs - x) ** 2 + (ys - y) ** 2 <= radius ** 2
    return Evidence(match_distance(result), support, radius)


def relative_log_depth(depth: np.ndarray) -> np.ndarray:
    """Log depth minus its median over each image, for (H, W) or (N, H, W) maps: relative
    depth maps of any scale become comparable (0.1 apart is about 10%).

    Parameters
    ----------
    depth : (H, W) or (N, H, W) array
        Relative depth, positive; values below 1e-6 count as 1e-6.

    Returns
    -------
    float array like ``depth``
        The log depth minus its median over each image.
    """
    log = np.log(np.maximum(depth, 1e-6))
    return log - np.median(log, axis=(-2, -1), keepdims=True)


def learned_uncertainty(model: learned.DepthModel, frames0: np.ndarray,
                        frames1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The learned model's depth and its per-pixel uncertainty.

    The pair is also given flipped left to right, upside down, and both; a flip of the input
    flips the motion and the scene alike, so a model that has learned the geometry should
    give the same (flipped) depth. The uncertainty is the standard deviation of the four
    median-normalised log depth maps: 0.1 is a spread of about 10%.

    Parameters
    ----------
    model : learned.DepthModel
        A trained model.
    frames0, frames1 : (N, H, W) or (H, W) float arrays in [0, 1]

    Returns
    -------
    depth : array like ``frames0``
        The model's relative depth on the pair as given (`learned.predict_batch`).
    uncertainty : array like ``frames0``
        The spread in log depth, >= 0.
    """
    single = isinstance(frames0, np.ndarray) and frames0.ndim == 2
    if single:
        if not isinstance(frames1, np.ndarray) or frames1.shape != frames0.shape:
            raise ValueError("frames1 must be an array of the shape of frames0")
        frames0, frames1 = frames0[None], frames1[None]
    views = []
    for axes in _FLIPS:
        def flip(a, axes=axes):
            return np.flip(a, axes).copy() if axes else a

        views.append(flip(learned.predict_batch(model, flip(frames0), flip(frames1))))
    uncertainty = np.stack([relative_log_depth(v) for v in views]).std(0)
    depth = views[0]
    return (depth[0], uncertainty[0]) if single else (depth, uncertainty)


def saliency(model: learned.DepthModel, frame0: np.ndarray, frame1: np.ndarray,
             pixel: tuple[int, int], *, window: int = 3) -> np.ndarray:
    """Input-gradient saliency: how strongly each input pixel moves the depth at ``pixel``.

    Parameters
    ----------
    model : learned.DepthModel
        A trained model.
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1], with even sides.
    pixel : (int, int)
        ``(row, column)`` of the pixel explained; the log disparity is averaged over a
        ``window`` x ``window`` patch around it.
    window : int
        Odd size of that patch, in pixels.

    Returns
    -------
    (2, H, W) float32 array
        ``|d log disparity / d frame k|`` for frame 0 and frame 1.
    """
    if not isinstance(model, learned.DepthModel) or not model.trained:
        raise TypeError("model must be a trained learned.DepthModel")
    a, b = _checks.frame_pair(frame0, frame1)
    h, w = a.shape
    if h % 2 or w % 2:
        raise ValueError(f"the frames must have even sides, got {a.shape}")
    if not (isinstance(pixel, tuple) and len(pixel) == 2
            and all(isinstance(p, (int, np.integer)) for p in pixel)):
        raise TypeError(f"pixel must be a (row, column) tuple of integers, got {pixel!r}")
    if not (0 <= pixel[0] < h and 0 <= pixel[1] < w):
        raise ValueError(f"pixel {pixel} lies outside the {h} x {w} frames")
    window = _checks.integer("window", window, 1, min(h, w))
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    frames = torch.from_numpy(np.stack([a, b])[None]).requires_grad_(True)
    r, c, k = pixel[0], pixel[1], window // 2
    disparity = model.net(frames)[0, 0, max(r - k, 0):r + k + 1, max(c - k, 0):c + k + 1]
    torch.log(disparity.clamp_min(1e-3)).mean().backward()
    return frames.grad[0].abs().numpy()


def pixel_error(depth: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel relative error ``|s * depth - truth| / truth`` of a relative depth map after
    median scaling (``s`` as in `metrics.depth_metrics`); NaN where either is invalid.

    Parameters
    ----------
    depth, truth : (H, W) arrays
        Predicted relative depth and true depth.

    Returns
    -------
    (H, W) float64 array
        The relative error after median scaling; NaN where ``depth`` or ``truth`` is not
        finite and positive.
    """
    scores = metrics.depth_metrics(depth, truth)
    depth, truth = np.asarray(depth, np.float64), np.asarray(truth, np.float64)
    valid = np.isfinite(depth) & (depth > 0) & np.isfinite(truth) & (truth > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(scores.scale * depth - truth) / truth
    return np.where(valid, error, np.nan)


def sparsification(error: np.ndarray, confidence: np.ndarray,
                   fractions: np.ndarray = FRACTIONS) -> np.ndarray:
    """Mean error of the pixels left after removing the least confident ones.

    Parameters
    ----------
    error : (H, W) or (N, H, W) array
        Per-pixel error (`pixel_error`); NaN pixels are ignored.
    confidence : array like ``error``
        Higher is more trustworthy. Ties are broken by position, so a constant confidence
        removes pixels in a fixed order. ``-error`` gives the oracle curve.
    fractions : (K,) array in [0, 1)
        Shares of the valid pixels removed.

    Returns
    -------
    (K,) or (N, K) float array
        The mean error left at each fraction, per scene for a batch.
    """
    error, confidence = np.asarray(error, np.float64), np.asarray(confidence, np.float64)
    if error.shape != confidence.shape or error.ndim not in (2, 3):
        raise ValueError(f"error and confidence must share one (H, W) or (N, H, W) shape, got "
                         f"{error.shape} and {confidence.shape}")
    fractions = np.asarray(fractions, np.float64)
    if fractions.ndim != 1 or not ((fractions >= 0) & (fractions < 1)).all():
        raise ValueError("fractions must be a 1-D array of shares in [0, 1)")
    if error.ndim == 3:
        return np.stack([sparsification(e, c, fractions) for e, c in zip(error, confidence)])
    valid = np.isfinite(error) & ~np.isnan(confidence)
    if not valid.any():
        raise ValueError("error has no valid pixel")
    order = np.argsort(-confidence[valid], kind="stable")  # most confident first
    ranked = error[valid][order]
    kept = np.maximum(1, np.round((1 - fractions) * len(ranked)).astype(int))
    return np.cumsum(ranked)[kept - 1] / kept


def ause(curve: np.ndarray, oracle: np.ndarray, fractions: np.ndarray = FRACTIONS) -> float:
    """Area between a sparsification curve and the oracle's (trapezoidal rule over the
    fractions), averaged over scenes for (N, K) curves: 0 is a perfect ranking.

    Parameters
    ----------
    curve : (K,) or (N, K) array
        A `sparsification` curve of a confidence.
    oracle : array like ``curve``
        The oracle's curve: `sparsification` with ``-error`` as the confidence.
    fractions : (K,) array
        The shares of pixels removed that the curves were made with.

    Returns
    -------
    float
        The area between the curves, the mean over scenes for a batch.
    """
    curve, oracle = np.asarray(curve, np.float64), np.asarray(oracle, np.float64)
    if curve.shape != oracle.shape or curve.shape[-1] != len(fractions):
        raise ValueError("curve and oracle must share one shape, with one value per fraction")
    return float(np.mean(np.trapezoid(curve - oracle, fractions, axis=-1)))

