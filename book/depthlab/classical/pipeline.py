"""The steps chained (`run_pipeline`), with every intermediate result kept, and just the depth
map (`estimate_depth`)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .. import _checks
from .depth import densify, relative_depth
from .geometry import EpipolarFit, filter_matches, refine_matches, sparse_flow
from .matching import Features, Matches, detect, match

__all__ = ["PipelineResult", "UnreliableDepthWarning", "estimate_depth", "run_pipeline"]


class UnreliableDepthWarning(UserWarning):
    """The pipeline found too little evidence (matches) for a trustworthy depth map."""


@dataclasses.dataclass(frozen=True)
class PipelineResult:
    """Every intermediate result of `run_pipeline`.

    Attributes
    ----------
    features0, features1 : Features
    candidates : Matches
        Nearest-neighbour matches before the ratio test.
    matches : Matches
        The matches that pass the ratio test.
    fit : EpipolarFit
        Inliers of ``matches`` after epipolar RANSAC.
    points : (K, 2) float32 array
        Frame-0 positions of the inlier matches.
    flow : (K, 2) float32 array
        Their flow in pixels.
    sparse_depth : (K,) float64 array
        Relative depth at ``points`` (NaN where the disparity is not positive).
    depth : (H, W) float32 array
        Dense relative depth (constant 1.0 when unreliable).
    reliable : bool
        False when fewer than ``min_inliers`` inliers support the estimate.
    """

    features0: Features
    features1: Features
    candidates: Matches
    matches: Matches
    fit: EpipolarFit
    points: np.ndarray
    flow: np.ndarray
    sparse_depth: np.ndarray
    depth: np.ndarray
    reliable: bool


def run_pipeline(frame0: np.ndarray, frame1: np.ndarray, *, ratio: float = 0.8,
                 method: str = "translation", threshold: float = 0.5, min_inliers: int = 8,
                 contrast_threshold: float = 0.01, seed: int = 0,
                 descriptor=None, refine: bool = False, interpolate: str = "inverse",
                 edges: bool = False) -> PipelineResult:
    """Runs every step of the classical pipeline and keeps the intermediate results.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1]; frame 0 is the reference.
    ratio : float
        Lowe's ratio test (see `match`).
    method, threshold, seed
        Epipolar RANSAC (see `filter_matches`).
    min_inliers : int
        Fewest inliers for a reliable estimate (>= 1).
    contrast_threshold : float
        SIFT's contrast threshold (see `detect`).
    descriptor : callable, optional
        A descriptor to use in place of SIFT's at SIFT's keypoints (see `detect`).
    refine : bool
        Refine the inliers' frame-1 positions along the flow direction (`refine_matches`).
    interpolate : {"inverse", "depth"}
        The variable `densify` interpolates.
    edges : bool
        Keep `densify` from interpolating across depth edges (frame 0 is its guide).

    Returns
    -------
    PipelineResult
        When fewer than ``min_inliers`` matches survive, ``reliable`` is False and ``depth``
        is the constant 1.0 (no evidence for any structure).
    """
    a, b = _checks.frame_pair(frame0, frame1)
    ratio = _checks.number("ratio", ratio, 1e-6, 1.0)
    min_inliers = _checks.integer("min_inliers", min_inliers, 1, 10**6)
    features0 = detect(a, contrast_threshold, descriptor)
    features1 = detect(b, contrast_threshold, descriptor)
    candidates = match(features0, features1, ratio=1.0)
    keep = candidates.ratio < ratio if ratio < 1.0 else np.ones(len(candidates), bool)
    matches = Matches(candidates.index0[keep], candidates.index1[keep], candidates.ratio[keep])
    p0, p1 = features0.points[matches.index0], features1.points[matches.index1]
    fit = filter_matches(p0, p1, method=method, threshold=threshold, seed=seed)
    if not isinstance(refine, bool) or not isinstance(edges, bool):
        raise TypeError(f"refine and edges must be True or False, got {refine!r} and {edges!r}")
    if refine and fit.inliers.any() and fit.direction is not None:
        p1 = p1.copy()
        p1[fit.inliers] = refine_matches(a, b, p0[fit.inliers], p1[fit.inliers],
                                         fit.direction / np.linalg.norm(fit.direction))
    points, flow = sparse_flow(p0, p1, fit.inliers)
    sparse = relative_depth(flow, fit.direction)
    reliable = int(np.isfinite(sparse).sum()) >= min_inliers
    depth = (densify(points, sparse, a.shape, interpolate=interpolate,
                     guide=a if edges else None) if reliable
             else np.ones(a.shape, np.float32))
    return PipelineResult(features0, features1, candidates, matches, fit, points, flow, sparse,
                          depth, reliable)


def estimate_depth(frame0: np.ndarray, frame1: np.ndarray, **params) -> np.ndarray:
    """Relative depth of frame 0 from two frames: the whole classical pipeline.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1].
    **params
        Passed to `run_pipeline` (``ratio``, ``method``, ``threshold``, ``descriptor``, ...).

    Returns
    -------
    (H, W) float32 array
        Depth up to scale. When too few matches support it, an `UnreliableDepthWarning` is
        issued and the map is constant.
    """
    result = run_pipeline(frame0, frame1, **params)
    if not result.reliable:
        found = int(np.isfinite(result.sparse_depth).sum())
        warnings.warn(f"only {found} inlier matches survived, too few to trust; the depth map "
                      "is a constant guess", UnreliableDepthWarning, stacklevel=2)
    return result.depth
