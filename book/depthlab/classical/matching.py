"""The pipeline's first steps: SIFT keypoints and descriptors (`detect`) and their matches,
kept by Lowe's ratio test (`match`)."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from .. import _checks

__all__ = ["Features", "Matches", "detect", "keypoints", "match"]


@dataclasses.dataclass(frozen=True)
class Features:
    """Features of one frame: SIFT keypoints and their descriptors.

    Attributes
    ----------
    points : (N, 2) float32 array
        Keypoint positions ``(x, y)`` in pixels.
    descriptors : (N, D) float32 array
        SIFT's descriptors (D = 128), or a learned descriptor's.
    sizes : (N,) float32 array
        Keypoint diameters in pixels.
    """

    points: np.ndarray
    descriptors: np.ndarray
    sizes: np.ndarray

    def __len__(self):
        return len(self.points)


@dataclasses.dataclass(frozen=True)
class Matches:
    """Putative correspondences between two feature sets.

    Attributes
    ----------
    index0, index1 : (M,) int arrays
        Indices of the matched features in frame 0 and frame 1.
    ratio : (M,) float32 array
        Distance to the nearest neighbour divided by the distance to the second nearest
        (small is distinctive).
    """

    index0: np.ndarray
    index1: np.ndarray
    ratio: np.ndarray

    def __len__(self):
        return len(self.index0)


def keypoints(image: np.ndarray, contrast_threshold: float = 0.01):
    """SIFT's keypoints alone, without descriptors.

    Parameters
    ----------
    image : (H, W) array
        A grey frame, uint8 or float in [0, 1].
    contrast_threshold : float
        SIFT's contrast threshold in (0, 1); smaller finds more, weaker keypoints. OpenCV's
        default, 0.04, finds few keypoints in 64 x 96 frames.

    Returns
    -------
    points : (N, 2) float32 array
        Positions ``(x, y)`` in pixels.
    sizes : (N,) float32 array
        Keypoint diameters in pixels.
    """
    image = _checks.image("image", image)
    contrast_threshold = _checks.number("contrast_threshold", contrast_threshold, 1e-6, 1.0)
    found = _sift(contrast_threshold).detect(_to_uint8(image), None)
    return _keypoint_arrays(found)


def _sift(contrast_threshold):
    return cv2.SIFT_create(contrastThreshold=contrast_threshold)


def _to_uint8(image):
    return np.round(image * 255.0).astype(np.uint8)


def _keypoint_arrays(found):
    return (np.array([k.pt for k in found], np.float32).reshape(-1, 2),
            np.array([k.size for k in found], np.float32))


def detect(image: np.ndarray, contrast_threshold: float = 0.01, descriptor=None) -> Features:
    """Detects SIFT keypoints and computes their descriptors.

    Parameters
    ----------
    image : (H, W) array
        A grey frame, uint8 or float in [0, 1].
    contrast_threshold : float
        SIFT's contrast threshold in (0, 1) (see `keypoints`).
    descriptor : callable, optional
        ``descriptor(image, points)`` with ``image`` (H, W) float32 in [0, 1] and ``points``
        (N, 2) float32 returns (N, D) float32 descriptors, for example a
        `depthlab.features.LearnedDescriptor`. None computes SIFT's own. With a
        descriptor, keypoints that SIFT repeats at one position (one per orientation) are
        kept once.

    Returns
    -------
    Features
    """
    image = _checks.image("image", image)
    contrast_threshold = _checks.number("contrast_threshold", contrast_threshold, 1e-6, 1.0)
    if descriptor is not None and not callable(descriptor):
        raise TypeError(f"descriptor must be callable (image, points) -> (N, D) array or None, "
                        f"got {type(descriptor).__name__}")
    if descriptor is None:
        found, descriptors = _sift(contrast_threshold).detectAndCompute(_to_uint8(image), None)
        points, sizes = _keypoint_arrays(found)
        if descriptors is None:
            descriptors = np.zeros((0, 128), np.float32)
    else:
        points, sizes = keypoints(image, contrast_threshold)
        # SIFT repeats a keypoint for each dominant orientation of its patch; a descriptor
        # without orientations would give the copies one descriptor, and the ratio test
        # would reject them all as ambiguous. Each position is kept once.
        _, first = np.unique(points, axis=0, return_index=True)
        first = np.sort(first)
        points, sizes = points[first], sizes[first]
        descriptors = descriptor(image, points)
        if not isinstance(descriptors, np.ndarray) or descriptors.ndim != 2 \
                or len(descriptors) != len(points) or descriptors.shape[1] < 1:
            raise ValueError(f"descriptor must return an ({len(points)}, D) array for "
                             f"{len(points)} points, got "
                             f"{getattr(descriptors, 'shape', type(descriptors).__name__)}")
        if not np.isfinite(descriptors).all():
            raise ValueError("descriptor returned NaN or inf")
    return Features(points=points, descriptors=descriptors.astype(np.float32), sizes=sizes)


def _check_features(name, value):
    if not isinstance(value, Features):
        raise TypeError(f"{name} must be Features (from detect), got {type(value).__name__}")


def match(features0: Features, features1: Features, ratio: float = 0.8) -> Matches:
    """Matches each frame-0 descriptor to its nearest frame-1 descriptor (L2 distance).

    Parameters
    ----------
    features0, features1 : Features
    ratio : float
        Lowe's ratio test in (0, 1]: keep a match when its distance is below ``ratio`` times
        the distance to the second-nearest descriptor. 1.0 keeps every nearest neighbour.

    Returns
    -------
    Matches
        Sorted by ``index0``. Empty when either frame has fewer than two features.
    """
    _check_features("features0", features0)
    _check_features("features1", features1)
    ratio = _checks.number("ratio", ratio, 1e-6, 1.0)
    empty = Matches(np.zeros(0, int), np.zeros(0, int), np.zeros(0, np.float32))
    if len(features0) == 0 or len(features1) < 2:
        return empty
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(features0.descriptors, features1.descriptors, k=2)
    index0 = np.array([p[0].queryIdx for p in pairs])
    index1 = np.array([p[0].trainIdx for p in pairs])
    distance = np.array([(p[0].distance, p[1].distance) for p in pairs], np.float32)
    dist_ratio = distance[:, 0] / np.maximum(distance[:, 1], 1e-12)
    keep = dist_ratio <= ratio if ratio >= 1.0 else dist_ratio < ratio
    return Matches(index0[keep], index1[keep], dist_ratio[keep])
