"""Motion stereo, the book's strongest classical method: the pipeline's motion, then a dense
matcher along it.

The SIFT pipeline (`depthlab.classical`) finds the direction in which the camera moved. Both
frames are rotated so that the flow points left, which is what a rectified stereo pair looks
like, and semi-global matching (`stereo_sgbm`, Hirschmüller, 2008) finds a disparity for every
pixel along that line. `search_range` is how far it searches for a world's disparities.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import _checks, classical

__all__ = ["motion_stereo", "search_range", "stereo_sgbm"]


def search_range(max_disparity: float) -> int:
    """The smallest disparity search that `stereo_sgbm` accepts (a multiple of 16) and that
    covers a bound on the disparities, such as `world.WorldConfig.max_disparity`.

    Parameters
    ----------
    max_disparity : float
        The largest disparity to find, in pixels, from 0 to 1024.

    Returns
    -------
    int
        A multiple of 16, at least 16.
    """
    bound = _checks.number("max_disparity", max_disparity, 0.0, 1024.0)
    return max(16, int(16 * np.ceil(bound / 16)))


def stereo_sgbm(frame0: np.ndarray, frame1: np.ndarray, *, max_disparity: int = 32,
                block_size: int = 5, penalty: float = 8.0) -> np.ndarray:
    """Relative depth from OpenCV's semi-global block matching (Hirschmüller, 2008).

    A dense reference for rectified pairs whose flow points left (frame 1 is the right
    camera), as in `depthlab.real`; it does not apply to other motion directions.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Left and right grey frames, uint8 or float in [0, 1].
    max_disparity : int
        Largest disparity searched, in pixels; a positive multiple of 16.
    block_size : int
        Odd matching window size in pixels, from 1 to 11.
    penalty : float
        The smoothness penalties per pixel of the window: SGBM's ``P1`` (a disparity change of
        one) is ``penalty * block_size**2`` and ``P2`` (larger changes) four times that; 8 is
        OpenCV's suggestion. Larger values give smoother surfaces.

    Returns
    -------
    (H, W) float32 array
        ``1 / disparity``; NaN where SGBM found no valid disparity.
    """
    a, b = _checks.frame_pair(frame0, frame1)
    max_disparity = _checks.integer("max_disparity", max_disparity, 16, 1024)
    if max_disparity % 16:
        raise ValueError(f"max_disparity must be a multiple of 16, got {max_disparity}")
    block_size = _checks.integer("block_size", block_size, 1, 11)
    if block_size % 2 == 0:
        raise ValueError(f"block_size must be odd, got {block_size}")
    penalty = _checks.number("penalty", penalty, 0.0, 1000.0)
    p1 = int(round(penalty * block_size ** 2))
    matcher = cv2.StereoSGBM_create(minDisparity=0, numDisparities=max_disparity,
                                    blockSize=block_size, P1=p1, P2=4 * p1 + (p1 == 0),
                                    uniquenessRatio=10,
                                    mode=cv2.STEREO_SGBM_MODE_HH)
    to_uint8 = lambda im: np.round(im * 255).astype(np.uint8)  # noqa: E731
    disparity = matcher.compute(to_uint8(a), to_uint8(b)).astype(np.float32) / 16.0
    with np.errstate(divide="ignore"):
        return np.where(disparity > 0, 1.0 / disparity, np.nan).astype(np.float32)


def motion_stereo(frame0: np.ndarray, frame1: np.ndarray, *, max_disparity: int = 16,
                  block_size: int = 5, penalty: float = 8.0,
                  result: classical.PipelineResult | None = None, **params) -> np.ndarray:
    """Relative depth from a dense matcher adapted to the motion: the pipeline, then SGBM.

    `classical.run_pipeline` finds the flow direction with RANSAC. Both frames are rotated so
    that the flow points left, which is what a rectified stereo pair looks like, and
    `stereo_sgbm` matches every pixel along that line. Its disparity is rotated back; where
    SGBM finds no match, the pipeline's interpolated depth fills in. Without a reliable
    direction the result is the pipeline's (constant) depth.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1].
    max_disparity, block_size, penalty
        See `stereo_sgbm`.
    result : classical.PipelineResult, optional
        The pipeline's result on these frames, if already computed (then ``params`` must be
        empty); by default the pipeline runs here.
    **params
        Passed to `classical.run_pipeline`.

    Returns
    -------
    (H, W) float32 array
        Depth up to scale, in the units of `classical.run_pipeline` (``1 / disparity``).
    """
    a, b = _checks.frame_pair(frame0, frame1)
    if result is None:
        result = classical.run_pipeline(a, b, **params)
    elif not isinstance(result, classical.PipelineResult) or params:
        raise TypeError("result must be a classical.PipelineResult of these frames, given "
                        f"without pipeline parameters; got {type(result).__name__} and "
                        f"{sorted(params)}")
    if not result.reliable or result.fit.direction is None:
        return result.depth
    dx, dy = result.fit.direction / np.linalg.norm(result.fit.direction)
    h, w = a.shape
    size = int(np.ceil(np.hypot(h, w))) + 2
    rotation = np.array([[-dx, -dy], [dy, -dx]])  # maps the flow direction to (-1, 0)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    forward = np.hstack([rotation, ((size - 1) / 2 - rotation @ centre)[:, None]])
    warp = lambda im: cv2.warpAffine(im.astype(np.float32), forward, (size, size),  # noqa: E731
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inverse_depth = stereo_sgbm(warp(a).clip(0, 1), warp(b).clip(0, 1),
                                max_disparity=max_disparity, block_size=block_size,
                                penalty=penalty)
    back = cv2.warpAffine(inverse_depth, forward, (w, h), flags=cv2.INTER_NEAREST
                          | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float("nan"))
    return np.where(np.isfinite(back), back, result.depth).astype(np.float32)
