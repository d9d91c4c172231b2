"""Real two-frame pairs with ground truth.

The Middlebury 2014 "Motorcycle" stereo pair (Scharstein et al., GCPR 2014) ships with
scikit-image, downsampled 4x with its calibration. `load_motorcycle` turns it into the book's
setting, a camera translating in its image plane: frame 1 is shifted by the difference of
the two principal points, so that the flow is ``-(d + doffs)`` in x and depth is
``focal * baseline / (d + doffs)`` everywhere.
"""
from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
from skimage import color, data

from . import _checks

__all__ = ["RealPair", "load_motorcycle"]

# Calibration of the pair that scikit-image ships (its docstring), at its resolution.
_FOCAL_PX = 994.978
_BASELINE_M = 0.193001
_DOFFS_PX = 31.086


@dataclasses.dataclass(frozen=True)
class RealPair:
    """A real frame pair with ground truth.

    Attributes
    ----------
    frame0, frame1 : (H, W) float32 arrays
        Grey frames in [0, 1]; frame 0 is the reference (the left camera).
    depth : (H, W) float32 array
        Depth in metres; inf where it is unknown.
    disparity : (H, W) float32 array
        Flow length in pixels, ``focal * baseline / depth``; NaN where unknown.
    valid : (H, W) bool array
        Pixels with known depth.
    direction : (2,) float64 array
        Unit flow direction, ``(-1, 0)``: points move left from frame 0 to frame 1.
    focal : float
        Focal length in pixels at this scale.
    baseline : float
        Camera translation in metres.
    """

    frame0: np.ndarray
    frame1: np.ndarray
    depth: np.ndarray
    disparity: np.ndarray
    valid: np.ndarray
    direction: np.ndarray
    focal: float
    baseline: float


@functools.lru_cache(maxsize=1)
def _motorcycle():
    left, right, disparity = data.stereo_motorcycle()
    grey = [color.rgb2gray(im).astype(np.float32) for im in (left, right)]
    return grey[0], grey[1], disparity.astype(np.float32)


def load_motorcycle(scale: float = 0.25) -> RealPair:
    """The Middlebury Motorcycle pair at ``scale`` times scikit-image's 741 x 500 pixels.

    Parameters
    ----------
    scale : float
        In (0, 1]; 0.25 gives 185 x 125 pixels. Frames are downscaled by area averaging.
        A downscaled pixel has ground truth only if every source pixel under its footprint
        has it.

    Returns
    -------
    RealPair

    References
    ----------
    D. Scharstein et al., "High-resolution stereo datasets with subpixel-accurate ground
    truth", GCPR 2014.
    """
    scale = _checks.number("scale", scale, 0.0, 1.0)
    left, right, disparity = _motorcycle()
    size = (round(left.shape[1] * scale), round(left.shape[0] * scale))
    if min(size) < 16:
        raise ValueError(f"scale {scale} gives {size[0]} x {size[1]} pixels; use at least "
                         f"{16 / min(left.shape):.3f} for 16 pixels")
    known = np.isfinite(disparity)
    # Shift the right image left by doffs: both cameras then share one principal point.
    shift = np.float32([[1, 0, -_DOFFS_PX], [0, 1, 0]])
    right = cv2.warpAffine(right, shift, right.shape[::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)

    def shrink(image):
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    unknown = shrink((~known).astype(np.float32)) > 0
    disparity = shrink(np.where(known, disparity + _DOFFS_PX, 0.0).astype(np.float32)) * scale
    valid = ~unknown & (disparity > 0)
    disparity = np.where(valid, disparity, np.nan).astype(np.float32)
    focal = _FOCAL_PX * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(valid, focal * _BASELINE_M / disparity, np.inf).astype(np.float32)
    return RealPair(frame0=np.clip(shrink(left), 0, 1), frame1=np.clip(shrink(right), 0, 1),
                    depth=depth, disparity=disparity, valid=valid,
                    direction=np.array([-1.0, 0.0]), focal=focal, baseline=_BASELINE_M)
