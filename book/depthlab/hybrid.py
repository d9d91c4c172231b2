"""A fail-safe hybrid: the learned depth, with the classical pipeline as its fallback.

The learned model answers first. Two checks decide where its answer is not trusted:

1. **uncertainty**, per pixel: where the spread of the model's depth over flipped inputs
   (`explain.learned_uncertainty`) is above a threshold, *and* the pipeline has evidence
   nearby (an inlier match within a radius, `explain.classical_evidence`), the pixel takes
   the pipeline's depth; far from any match the pipeline's depth is itself a guess;
2. **the photometric check**, per scene: frame 1 is warped onto frame 0 by the flow each
   depth map implies along the motion that RANSAC found; if the learned depth explains the
   two frames clearly worse than the pipeline's (by a factor ``margin``), the whole scene
   falls back.

The pipeline is only a fallback where it has evidence: with too few inliers (no reliable
estimate, no motion direction) the learned depth is kept. The pipeline's depth is scaled to
the learned one (the median ratio) before the two are mixed, since both are relative.

`prepare` runs both methods and both checks once; `combine` then makes the hybrid at any
setting from those parts, cheaply, which is what a threshold slider needs. `prepare_cached`
keeps the parts in the disk cache (`depthlab.cache`), so that a second run reads them back.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from . import _checks, cache, classical, explain, learned

__all__ = ["MARGIN", "Parts", "combine", "photometric_error", "prepare", "prepare_cached"]

#: The photometric check's margin: a scene falls back whole when the learned depth's
#: photometric error is this many times the pipeline's, a gross failure and not a close call.
MARGIN = 1.5


def photometric_error(frame0: np.ndarray, frame1: np.ndarray, disparity: np.ndarray,
                      direction: np.ndarray) -> float:
    """Mean ``|frame0 - frame1 warped by the flow disparity * direction|`` over the pixels that
    stay inside the frame.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames, uint8 or float in [0, 1].
    disparity : (H, W) array
        Flow length in pixels at every frame-0 pixel (finite, >= 0).
    direction : (2,) array
        Unit flow direction ``(dx, dy)``.

    Returns
    -------
    float
        In intensity units; inf if fewer than half the pixels stay inside.
    """
    a, b = _checks.frame_pair(frame0, frame1)
    disparity = np.asarray(disparity, np.float32)
    if disparity.shape != a.shape or not np.isfinite(disparity).all():
        raise ValueError(f"disparity must be a finite array of the frames' shape {a.shape}")
    direction = np.asarray(direction, np.float64)
    if direction.shape != (2,) or not np.isclose(np.linalg.norm(direction), 1.0):
        raise ValueError(f"direction must be a unit (2,) vector, got {direction!r}")
    h, w = a.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = xs + np.float32(direction[0]) * disparity
    map_y = ys + np.float32(direction[1]) * disparity
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    if inside.mean() < 0.5:
        return float("inf")
    warped = cv2.remap(b, map_x, map_y, cv2.INTER_LINEAR)
    return float(np.abs(a - warped)[inside].mean())


@dataclasses.dataclass(frozen=True)
class Parts:
    """Both methods' answers on a batch of pairs, and the checks of the hybrid.

    Attributes
    ----------
    learned : (N, H, W) float32 array
        The learned model's relative depth.
    uncertainty : (N, H, W) float array
        Its spread over flipped inputs (`explain.learned_uncertainty`).
    classical : (N, H, W) float array
        The pipeline's depth, scaled to ``learned`` (median ratio).
    reliable : (N,) bool array
        Whether the pipeline found enough inliers (else it is never a fallback).
    photometric : (N, 2) float array
        Photometric error of the learned and of the pipeline's depth (NaN when unreliable).
    distance : (N, H, W) float array
        Distance in pixels to the pipeline's nearest inlier match (inf when unreliable).
    """

    learned: np.ndarray
    uncertainty: np.ndarray
    classical: np.ndarray
    reliable: np.ndarray
    photometric: np.ndarray
    distance: np.ndarray

    def __len__(self):
        return len(self.learned)

    def photometric_fails(self, margin: float = MARGIN) -> np.ndarray:
        """(N,) bool: the learned depth's photometric error is above ``margin`` times the
        pipeline's (and the pipeline is reliable)."""
        margin = _checks.number("margin", margin, 1.0, np.inf)
        with np.errstate(invalid="ignore"):
            return self.reliable & (self.photometric[:, 0] > margin * self.photometric[:, 1])


def prepare(model: learned.DepthModel, frames0: np.ndarray, frames1: np.ndarray,
            *, results=None) -> Parts:
    """Runs the learned model (with its uncertainty), the pipeline and the photometric check.

    Parameters
    ----------
    model : learned.DepthModel
        A trained model.
    frames0, frames1 : (N, H, W) float arrays in [0, 1]
    results : list of classical.PipelineResult, optional
        The pipeline's results on the same pairs, if already computed.

    Returns
    -------
    Parts
    """
    depth, uncertainty = explain.learned_uncertainty(model, frames0, frames1)
    if results is None:
        results = [classical.run_pipeline(a, b) for a, b in zip(frames0, frames1)]
    results = list(results)
    if len(results) != len(depth) or not all(isinstance(r, classical.PipelineResult)
                                             for r in results):
        raise ValueError(f"results must hold one classical.PipelineResult per pair "
                         f"({len(depth)})")
    scaled = np.empty(depth.shape)
    reliable = np.array([r.reliable and r.fit.direction is not None for r in results])
    photometric = np.full((len(depth), 2), np.nan)
    distance = np.stack([explain.match_distance(r) for r in results])
    for i, r in enumerate(results):
        scaled[i] = r.depth * np.median(depth[i] / r.depth)
        if not reliable[i]:
            continue
        # The learned depth's scale in pixels, from the inlier matches: disparity = k / depth.
        at = np.clip(np.round(r.points).astype(int), 0, np.array(depth.shape[:0:-1]) - 1)
        k = np.nanmedian(depth[i][at[:, 1], at[:, 0]] / r.sparse_depth)
        photometric[i] = [photometric_error(frames0[i], frames1[i], k / depth[i],
                                            r.fit.direction),
                          photometric_error(frames0[i], frames1[i], 1.0 / r.depth,
                                            r.fit.direction)]
    return Parts(depth, uncertainty, scaled, reliable, photometric, distance)


def prepare_cached(model: learned.DepthModel, frames0: np.ndarray, frames1: np.ndarray,
                   *, results=None) -> Parts:
    """`prepare`, kept in the disk cache (`depthlab.cache`).

    The entry is named by a hash of everything the parts depend on: the model's weights and
    configuration, the frames, the pipeline's results (or that the pipeline runs with its
    defaults), and the source of this module and of the modules it imports
    (`cache.code_digest`). A change to any of them computes the parts afresh.

    Parameters
    ----------
    model : learned.DepthModel
        A trained model.
    frames0, frames1 : (N, H, W) float arrays in [0, 1]
    results : list of classical.PipelineResult, optional
        The pipeline's results on the same pairs, if already computed.

    Returns
    -------
    Parts
        As `prepare` returns them, from the cache when the entry exists.
    """
    if not isinstance(model, learned.DepthModel):
        raise TypeError(f"model must be a learned.DepthModel, got {type(model).__name__}")
    weights = [t.detach().numpy() for t in model.net.state_dict().values()]
    frames = [np.asarray(f, np.float32) for f in (frames0, frames1)]
    pipeline = []
    for r in results if results is not None else ["defaults"]:
        if isinstance(r, classical.PipelineResult):
            direction = r.fit.direction if r.fit.direction is not None else np.zeros(2)
            pipeline.append(cache.array_digest(*(
                np.asarray(part, np.float64)
                for part in (r.depth, r.points, r.sparse_depth, direction, [r.reliable]))))
        else:
            pipeline.append(repr(r))
    saved = cache.memo("hybrid", repr((model.model_config, model.n_scenes)),
                       cache.array_digest(*weights, *frames), pipeline, code=__name__,
                       compute=lambda: dataclasses.asdict(prepare(model, frames0, frames1,
                                                                  results=results)),
                       suffix=".npz", save=cache.save_arrays, load=cache.load_arrays)
    return Parts(**saved)


def combine(parts: Parts, threshold: float, radius: float, *, margin: float = MARGIN):
    """The hybrid's depth and where it fell back.

    Parameters
    ----------
    parts : Parts
    threshold : float
        Uncertainty above which a pixel takes the pipeline's depth (>= 0; inf never falls
        back on uncertainty).
    radius : float
        Only pixels within this many pixels of an inlier match fall back on uncertainty
        (> 0; inf: anywhere).
    margin : float
        The photometric check: a scene whose learned depth has more than ``margin`` times the
        pipeline's photometric error falls back whole (>= 1; inf switches the check off).

    Returns
    -------
    depth : (N, H, W) float array
    fallback : (N, H, W) bool array
        Pixels that took the pipeline's depth. Never one of a scene where the pipeline found
        too few inliers.
    """
    if not isinstance(parts, Parts):
        raise TypeError(f"parts must be hybrid.Parts (from prepare), got {type(parts).__name__}")
    threshold = _checks.number("threshold", threshold, 0.0, np.inf)
    radius = _checks.number("radius", radius, 1e-6, np.inf)
    fallback = (parts.uncertainty > threshold) & (parts.distance <= radius)
    fallback |= parts.photometric_fails(margin)[:, None, None]
    fallback &= parts.reliable[:, None, None]
    return np.where(fallback, parts.classical, parts.learned), fallback
