"""Input checks shared by the public functions: clear errors at the boundary."""
from __future__ import annotations

import numpy as np

#: How far outside [0, 1] a float frame may stray by rounding before it is refused (about
#: 100 float32 steps at 1.0); such values are clipped.
ROUNDING = 1e-5


def number(name, value, low=-np.inf, high=np.inf):
    """Checks that ``value`` is a real number in ``[low, high]`` and returns it as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return float(value)


def integer(name, value, low=0, high=2**63 - 1):
    """Checks that ``value`` is an integer in ``[low, high]`` and returns it as int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return int(value)


def interval(name, value, low, integer_values=False):
    """Checks a ``(low, high)`` tuple with ``low <= value[0] <= value[1]``."""
    if not (isinstance(value, tuple) and len(value) == 2):
        raise TypeError(f"{name} must be a (low, high) tuple, got {value!r}")
    kinds = (int, np.integer) if integer_values else (int, float, np.integer, np.floating)
    if not all(isinstance(v, kinds) and not isinstance(v, bool) for v in value):
        kind = "integers" if integer_values else "numbers"
        raise TypeError(f"{name} must hold {kind}, got {value!r}")
    if not low <= value[0] <= value[1]:
        raise ValueError(f"{name} must satisfy {low} <= low <= high, got {value!r}")


def image(name, value, min_size=8):
    """Checks a grey frame: a 2-D uint8 array, or a floating-point array with values in [0, 1].

    Frames exactly as users make them are accepted: any float dtype, any memory layout, and
    values that float rounding put just outside [0, 1] (``cv2.resize`` of a frame in [0, 1]
    with ``INTER_AREA`` can return 1.0000002), which are clipped. A value further out than
    `ROUNDING` is an error that prints the offending value and where it is.

    Returns it as a C-contiguous float32 array in [0, 1].
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) grey image, got shape {value.shape}")
    if value.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {value.shape}")
    if min(value.shape) < min_size:
        raise ValueError(f"{name} must be at least {min_size} x {min_size} pixels, "
                         f"got shape {value.shape}")
    if value.dtype == np.uint8:
        return np.ascontiguousarray(value, dtype=np.float32) / np.float32(255.0)
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{name} must be uint8 or floating point, got dtype {value.dtype}")
    if not np.isfinite(value).all():
        bad = np.argwhere(~np.isfinite(value))[0]
        raise ValueError(f"{name} contains NaN or inf, first at row {bad[0]}, column {bad[1]}")
    outside = (value < -ROUNDING) | (value > 1.0 + ROUNDING)
    if outside.any():
        row, col = np.argwhere(outside)[0]
        raise ValueError(f"{name} must hold values in [0, 1] (float) or be uint8, got "
                         f"{float(value[row, col])!r} at row {row}, column {col} "
                         f"({int(outside.sum())} values outside [0, 1])")
    return np.clip(value, 0.0, 1.0).astype(np.float32, order="C")


def frame_pair(frame0, frame1, min_size=8):
    """Checks two grey frames of the same shape; returns both as float32 in [0, 1]."""
    a = image("frame0", frame0, min_size)
    b = image("frame1", frame1, min_size)
    if a.shape != b.shape:
        raise ValueError(f"frame0 and frame1 must have the same shape, got {a.shape} and "
                         f"{b.shape}")
    return a, b


def instance(name, value, kind):
    """``value`` if it is a ``kind``, else a TypeError that names the class expected."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def scenes(name, value):
    """``value`` if it is a batch of scenes (`world.render_scenes`), else a TypeError."""
    from . import world  # world imports this module
    if not isinstance(value, world.Scene) or value.frame0.ndim != 3:
        raise TypeError(f"{name} must be a batch of scenes from world.render_scenes")
    return value
