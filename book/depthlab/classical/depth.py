"""Depth from the flow: relative depth at the matches (`relative_depth`), interpolated to every
pixel (`densify`)."""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import Delaunay

from .. import _checks

__all__ = ["densify", "relative_depth"]


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
