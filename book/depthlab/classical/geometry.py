"""The camera's motion in the matches: epipolar RANSAC (`filter_matches`), the inliers' flow
(`sparse_flow`) and its sub-pixel refinement (`refine_matches`)."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .. import _checks

__all__ = ["EpipolarFit", "filter_matches", "refine_matches", "sparse_flow"]


_MAX_HYPOTHESES = 500


@dataclasses.dataclass(frozen=True)
class EpipolarFit:
    """The result of `filter_matches`.

    Attributes
    ----------
    inliers : (M,) bool array
        Matches consistent with the fitted epipolar geometry.
    direction : (2,) float64 array or None
        Unit flow direction (method "translation", or the epipole's direction for
        "fundamental" when it lies far outside the image); None if nothing was fitted.
    fundamental : (3, 3) float64 array or None
        The fundamental matrix (method "fundamental" only).
    """

    inliers: np.ndarray
    direction: np.ndarray | None
    fundamental: np.ndarray | None = None


def _check_points(points0, points1):
    for name, value in (("points0", points0), ("points1", points1)):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
        if value.ndim != 2 or value.shape[1] != 2:
            raise ValueError(f"{name} must have shape (M, 2), got {value.shape}")
        if not np.issubdtype(value.dtype, np.floating) and not np.issubdtype(value.dtype,
                                                                             np.integer):
            raise TypeError(f"{name} must hold numbers, got dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise ValueError(f"{name} contains NaN or inf")
    if points0.shape != points1.shape:
        raise ValueError(f"points0 and points1 must have the same shape, got {points0.shape} "
                         f"and {points1.shape}")
    return points0.astype(np.float64), points1.astype(np.float64)


def _translation_ransac(flow, threshold, rng):
    """1-point RANSAC: each match proposes the flow direction; the direction with the most
    matches within ``threshold`` pixels of its epipolar line (and moving forward) wins."""
    length = np.linalg.norm(flow, axis=1)
    candidates = np.flatnonzero(length > 1e-6)
    if len(candidates) == 0:
        return np.zeros(len(flow), bool), None
    if len(candidates) > _MAX_HYPOTHESES:
        candidates = np.sort(rng.choice(candidates, _MAX_HYPOTHESES, replace=False))
    directions = flow[candidates] / length[candidates, None]

    def consistent(direction):  # (..., 2) -> (..., M) inlier masks
        across = np.abs(direction[..., :1] * flow[:, 1] - direction[..., 1:] * flow[:, 0])
        along = direction[..., :1] * flow[:, 0] + direction[..., 1:] * flow[:, 1]
        return (across <= threshold) & (along > 0)

    best = consistent(directions).sum(axis=1).argmax()  # first best: deterministic
    inliers = consistent(directions[best])
    # Refit: the direction that minimises the squared distances across it.
    eigenvalues, eigenvectors = np.linalg.eigh(flow[inliers].T @ flow[inliers])
    direction = eigenvectors[:, -1]
    if direction @ flow[inliers].sum(axis=0) < 0:
        direction = -direction
    return consistent(direction), direction


def filter_matches(points0: np.ndarray, points1: np.ndarray, *, method: str = "translation",
                   threshold: float = 0.5, seed: int = 0) -> EpipolarFit:
    """Keeps the matches that agree with one epipolar geometry (RANSAC).

    Parameters
    ----------
    points0, points1 : (M, 2) arrays
        Matched positions ``(x, y)`` in pixels in frame 0 and frame 1.
    method : {"translation", "fundamental"}
        "translation": the camera translates in its image plane, so epipolar lines are
        parallel to one flow direction; each match is a one-point hypothesis. Needs one
        match. "fundamental": a general fundamental matrix by OpenCV's 8-point RANSAC.
        Needs eight matches, and is ill-conditioned on planar scenes with few matches.
    threshold : float
        Largest distance in pixels from a match to its epipolar line (> 0).
    seed : int
        Seed of the random choices (hypothesis subsampling, OpenCV's RANSAC).

    Returns
    -------
    EpipolarFit
        No inliers when there are too few matches for the method.
    """
    p0, p1 = _check_points(points0, points1)
    if method not in ("translation", "fundamental"):
        raise ValueError(f"method must be 'translation' or 'fundamental', got {method!r}")
    threshold = _checks.number("threshold", threshold, 1e-6, np.inf)
    seed = _checks.integer("seed", seed, 0, 2**31 - 1)
    flow = p1 - p0
    if method == "translation":
        inliers, direction = _translation_ransac(flow, threshold, np.random.default_rng(seed))
        return EpipolarFit(inliers, direction)
    if len(p0) < 8:
        return EpipolarFit(np.zeros(len(p0), bool), None, None)
    cv2.setRNGSeed(seed)
    fundamental, mask = cv2.findFundamentalMat(p0, p1, cv2.FM_RANSAC, threshold, 0.999)
    if fundamental is None or fundamental.shape != (3, 3):
        return EpipolarFit(np.zeros(len(p0), bool), None, None)
    # The epipole in frame 0 is F's right null vector; far away, it is a direction.
    epipole = np.linalg.svd(fundamental)[2][-1]
    direction = None
    if abs(epipole[2]) < 1e-3 * np.hypot(epipole[0], epipole[1]):
        direction = epipole[:2] / np.hypot(epipole[0], epipole[1])
        inlier_flow = flow[mask.ravel() > 0]
        if len(inlier_flow) and direction @ inlier_flow.sum(axis=0) < 0:
            direction = -direction
    return EpipolarFit(mask.ravel() > 0, direction, fundamental)


def sparse_flow(points0: np.ndarray, points1: np.ndarray, inliers: np.ndarray):
    """The flow of the inlier matches.

    Parameters
    ----------
    points0, points1 : (M, 2) arrays
        Matched positions in pixels.
    inliers : (M,) bool array

    Returns
    -------
    points : (K, 2) float32 array
        Frame-0 positions of the inliers.
    flow : (K, 2) float32 array
        ``points1 - points0`` for the inliers, in pixels.
    """
    p0, p1 = _check_points(points0, points1)
    if not isinstance(inliers, np.ndarray) or inliers.dtype != bool:
        raise TypeError("inliers must be a boolean numpy array")
    if inliers.shape != (len(p0),):
        raise ValueError(f"inliers must have shape ({len(p0)},), got {inliers.shape}")
    return p0[inliers].astype(np.float32), (p1 - p0)[inliers].astype(np.float32)


def refine_matches(frame0: np.ndarray, frame1: np.ndarray, points0: np.ndarray,
                   points1: np.ndarray, direction: np.ndarray, *, window: int = 9,
                   reach: int = 2) -> np.ndarray:
    """Refines matched frame-1 positions along the flow direction to sub-pixel accuracy.

    SIFT detects the keypoints of each frame on its own, so a matched pair is two nearby
    detections, not one physical point seen twice. For each match, the normalised cross-
    correlation of frame 0's ``window`` x ``window`` patch at ``points0`` with frame 1's
    patches at ``points1 + k * direction``, for whole pixels ``k`` from ``-reach`` to
    ``reach``, is computed (sampled bilinearly), and a parabola through the best ``k`` and
    its two neighbours gives the sub-pixel peak. Normalised correlation ignores the gain and
    offset that the lighting may change between frames.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1].
    points0, points1 : (M, 2) arrays
        Matched positions ``(x, y)`` in pixels.
    direction : (2,) array
        The unit flow direction (from `filter_matches`).
    window : int
        Odd patch size in pixels, from 3 to 31.
    reach : int
        Largest move searched, in whole pixels along ``direction`` (1 to 10). A match whose
        peak lies at the end of the search, or whose patch has no contrast, keeps its
        position.

    Returns
    -------
    (M, 2) float32 array
        The refined frame-1 positions.
    """
    a, b = _checks.frame_pair(frame0, frame1)
    p0, p1 = _check_points(points0, points1)
    direction = np.asarray(direction, np.float64)
    if direction.shape != (2,) or not np.isclose(np.linalg.norm(direction), 1.0):
        raise ValueError(f"direction must be a unit (2,) vector, got {direction!r}")
    window = _checks.integer("window", window, 3, 31)
    if window % 2 == 0:
        raise ValueError(f"window must be odd, got {window}")
    reach = _checks.integer("reach", reach, 1, 10)
    a, b = a.astype(np.float32), b.astype(np.float32)
    steps = np.arange(-reach, reach + 1)
    refined = p1.copy()
    for m in range(len(p0)):
        patch = cv2.getRectSubPix(a, (window, window), tuple(map(float, p0[m]))).ravel()
        patch = patch - patch.mean()
        scores = []
        for k in steps:
            x, y = p1[m] + k * direction
            other = cv2.getRectSubPix(b, (window, window), (float(x), float(y))).ravel()
            other = other - other.mean()
            scores.append(float(patch @ other)
                          / max(float(np.linalg.norm(patch) * np.linalg.norm(other)), 1e-12))
        best = int(np.argmax(scores))
        if 0 < best < len(steps) - 1 and np.linalg.norm(patch) > 1e-6:
            left, centre, right = scores[best - 1:best + 2]
            curvature = left - 2.0 * centre + right
            offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
            refined[m] = p1[m] + (steps[best] + offset) * direction
    return refined.astype(np.float32)
