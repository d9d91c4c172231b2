"""The classical pipeline: relative depth from two frames with SIFT, step by step.

1. `detect`: SIFT keypoints and descriptors in each frame (Lowe, 2004). A learned descriptor
   (`depthlab.features`) can replace SIFT's at the same keypoints: ``descriptor=`` here, in
   `run_pipeline` and in `estimate_depth`; every later step is unchanged.
2. `match`: nearest-neighbour descriptor matches, kept by Lowe's ratio test.
3. `filter_matches`: epipolar RANSAC (Fischler and Bolles, 1981). For a camera that
   translates in its image plane every flow vector is parallel to one direction, so a single
   match is a hypothesis ("translation"); the general alternative is the fundamental matrix
   from eight points ("fundamental", OpenCV's RANSAC).
4. `refine_matches` (optional): move each inlier's frame-1 position along the flow direction
   to the sub-pixel peak of a normalised cross-correlation, since SIFT finds the keypoints of
   the two frames independently.
5. `sparse_flow`: the flow of the inlier matches.
6. `relative_depth`: depth is ``focal * baseline / disparity``, so ``1 / disparity`` is depth up
   to one unknown scale.
7. `densify`: interpolate inverse depth (affine on planes) or depth between the matches,
   optionally without interpolating across depth edges.

`run_pipeline` chains the steps and keeps every intermediate result; `estimate_depth` returns
just the (H, W) relative depth map.
"""
from __future__ import annotations

import dataclasses
import warnings

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import Delaunay

from . import _checks

__all__ = ["EpipolarFit", "Features", "Matches", "PipelineResult", "UnreliableDepthWarning",
           "densify", "detect", "estimate_depth", "filter_matches", "keypoints", "match",
           "motion_stereo", "refine_matches",
           "relative_depth", "run_pipeline", "sparse_flow", "stereo_sgbm"]

_MAX_HYPOTHESES = 500


class UnreliableDepthWarning(UserWarning):
    """The pipeline found too little evidence (matches) for a trustworthy depth map."""


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


def relative_depth(flow: np.ndarray, direction: np.ndarray | None = None) -> np.ndarray:
    """Relative depth ``1 / disparity`` of each flow vector, for a translating camera.

    Parameters
    ----------
    flow : (K, 2) array
        Flow vectors in pixels.
    direction : (2,) array, optional
        The unit flow direction. When given, the disparity is the flow's component along it
        (noise across the epipolar line is dropped); otherwise it is the flow's length.

    Returns
    -------
    (K,) float64 array
        Depth up to one unknown scale (``focal * baseline``); NaN where the disparity is not
        positive.
    """
    if not isinstance(flow, np.ndarray):
        raise TypeError(f"flow must be a numpy array, got {type(flow).__name__}")
    if flow.ndim != 2 or flow.shape[1] != 2:
        raise ValueError(f"flow must have shape (K, 2), got {flow.shape}")
    if not np.isfinite(flow).all():
        raise ValueError("flow contains NaN or inf")
    flow = flow.astype(np.float64)
    if direction is None:
        disparity = np.linalg.norm(flow, axis=1)
    else:
        direction = np.asarray(direction, np.float64)
        if direction.shape != (2,) or not np.isclose(np.linalg.norm(direction), 1.0):
            raise ValueError(f"direction must be a unit (2,) vector, got {direction!r}")
        disparity = flow @ direction
    with np.errstate(divide="ignore"):
        return np.where(disparity > 0, 1.0 / np.where(disparity > 0, disparity, 1.0), np.nan)


def densify(points: np.ndarray, depth: np.ndarray, shape: tuple[int, int],
            *, interpolate: str = "inverse", guide: np.ndarray | None = None,
            edge: float = 0.15) -> np.ndarray:
    """Interpolates sparse relative depth to every pixel.

    The values are interpolated linearly over the Delaunay triangulation of the points;
    outside their convex hull each pixel copies the nearest interpolated pixel. Inverse depth
    is affine on a plane, so interpolating it is exact on planes; depth is not, but it is
    less pulled towards near surfaces. With a ``guide`` image, a triangle whose corners
    differ in inverse depth by more than ``edge`` (relative) spans a depth edge: each of its
    pixels takes the value of the corner whose guide value (the frame smoothed over a few
    pixels) is closest to its own, instead of a blend of the surfaces on both sides.

    Parameters
    ----------
    points : (K, 2) array
        Positions ``(x, y)`` in pixels.
    depth : (K,) array
        Positive relative depth at the points (NaN entries are ignored).
    shape : (int, int)
        ``(H, W)`` of the output.
    interpolate : {"inverse", "depth"}
        The variable interpolated.
    guide : (H, W) array, optional
        The reference frame, to keep interpolation from crossing depth edges.
    edge : float
        Relative inverse-depth difference within a triangle that counts as an edge (> 0).

    Returns
    -------
    (H, W) float32 array
        Positive relative depth.
    """
    if not (isinstance(shape, tuple) and len(shape) == 2
            and all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
        raise ValueError(f"shape must be a (H, W) tuple of positive integers, got {shape!r}")
    if not isinstance(points, np.ndarray) or not isinstance(depth, np.ndarray):
        raise TypeError("points and depth must be numpy arrays")
    if points.ndim != 2 or points.shape[1] != 2 or depth.shape != (len(points),):
        raise ValueError(f"points must be (K, 2) and depth (K,), got {points.shape} and "
                         f"{depth.shape}")
    if interpolate not in ("inverse", "depth"):
        raise ValueError(f"interpolate must be 'inverse' or 'depth', got {interpolate!r}")
    if guide is not None:
        guide = _checks.image("guide", guide)
        if guide.shape != shape:
            raise ValueError(f"guide must have the shape {shape}, got {guide.shape}")
    edge = _checks.number("edge", edge, 1e-6, np.inf)
    keep = np.isfinite(depth)
    if (depth[keep] <= 0).any():
        raise ValueError("depth must be positive (or NaN for unknown)")
    points, inverse = points[keep].astype(np.float64), 1.0 / depth[keep].astype(np.float64)
    if len(points) == 0:
        raise ValueError("densify needs at least one point with a finite depth")
    values = inverse if interpolate == "inverse" else 1.0 / inverse
    dense = np.full(shape, np.nan)
    grid_y, grid_x = np.mgrid[:shape[0], :shape[1]]
    if len(points) >= 3 and np.linalg.matrix_rank(points[1:] - points[0]) == 2:
        triangulation = Delaunay(points)
        pixels = np.stack([grid_x.ravel(), grid_y.ravel()], 1).astype(np.float64)
        simplex = triangulation.find_simplex(pixels)
        inside = simplex >= 0
        corners = triangulation.simplices[simplex[inside]]  # (P, 3) point indices
        transform = triangulation.transform[simplex[inside]]
        partial = np.einsum("pij,pj->pi", transform[:, :2], pixels[inside] - transform[:, 2])
        weights = np.column_stack([partial, 1.0 - partial.sum(1)])
        flat = np.einsum("pk,pk->p", weights, values[corners])
        if guide is not None:
            smooth = cv2.GaussianBlur(guide.astype(np.float32), (0, 0), 2.0)
            corner_inverse = inverse[corners]
            jump = corner_inverse.max(1) / corner_inverse.min(1) - 1.0 > edge
            at = np.clip(np.round(points).astype(int), 0, np.array(shape[::-1]) - 1)
            corner_guide = smooth[at[:, 1], at[:, 0]][corners[jump]]
            own = smooth.ravel()[np.flatnonzero(inside)[jump]]
            closest = np.abs(corner_guide - own[:, None]).argmin(1)
            flat[jump] = values[corners[jump][np.arange(jump.sum()), closest]]
        dense.ravel()[np.flatnonzero(inside)] = flat
    else:  # too few points for triangles: mark each point's own pixel
        pixels = np.clip(np.round(points).astype(int), 0, np.array(shape[::-1]) - 1)
        dense[pixels[:, 1], pixels[:, 0]] = values
    # Outside the hull, copy the nearest interpolated pixel.
    nearest = distance_transform_edt(np.isnan(dense), return_distances=False,
                                     return_indices=True)
    dense = dense[nearest[0], nearest[1]]
    return (1.0 / dense if interpolate == "inverse" else dense).astype(np.float32)


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
    depth = (densify(points, sparse, a.shape, interpolate=interpolate, guide=a if edges else None) if reliable
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
                  block_size: int = 5, penalty: float = 8.0, **params) -> np.ndarray:
    """Relative depth from a dense matcher adapted to the motion: the pipeline, then SGBM.

    `run_pipeline` finds the flow direction with RANSAC. Both frames are rotated so that the
    flow points left, which is what a rectified stereo pair looks like, and `stereo_sgbm`
    matches every pixel along that line. Its disparity is rotated back; where SGBM finds no
    match, the pipeline's interpolated depth fills in. Without a reliable direction the
    result is the pipeline's (constant) depth.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1].
    max_disparity, block_size, penalty
        See `stereo_sgbm`.
    **params
        Passed to `run_pipeline`.

    Returns
    -------
    (H, W) float32 array
        Depth up to scale, in the units of `run_pipeline` (``1 / disparity``).
    """
    a, b = _checks.frame_pair(frame0, frame1)
    result = run_pipeline(a, b, **params)
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
    inverse_depth = stereo_sgbm(warp(a).clip(0, 1), warp(b).clip(0, 1), max_disparity=max_disparity,
                                block_size=block_size, penalty=penalty)
    back = cv2.warpAffine(inverse_depth, forward, (w, h), flags=cv2.INTER_NEAREST
                          | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float("nan"))
    return np.where(np.isfinite(back), back, result.depth).astype(np.float32)
