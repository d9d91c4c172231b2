"""Real two-frame pairs with ground truth.

The Middlebury 2014 "Motorcycle" stereo pair (Scharstein et al., GCPR 2014) ships with
scikit-image, downsampled 4x with its calibration. `load_motorcycle` turns it into the book's
setting, a camera translating in its image plane: frame 1 is shifted by the difference of
the two principal points, so that the flow is ``-(d + doffs)`` in x and depth is
``focal * baseline / (d + doffs)`` everywhere.

Twenty more pairs from the Middlebury 2001, 2003, 2005 and 2014 stereo datasets (`MIDDLEBURY`)
ship with this package, at about 200 pixels wide, with their terms of use, provenance and
citations (``depthlab/data/middlebury/README.md``); `load_middlebury` reads them. Their cameras
share one principal point (the 2014 pairs were shifted to one when they were made, as
Motorcycle is here), so the flow is ``-d`` in x; their depth is relative, ``1 / d``, which is
all the book's scale-free metrics need. `load_real` reads any of the 21 by name (`REAL_PAIRS`),
and `REAL_SPLITS` divides them into validation pairs, on which every choice about real data is
made, and test pairs, on which every number about real data is reported. `make_pair` builds a
pair from any rectified frames and disparity. `fine_tune` adapts a trained network to a few
real pairs, with their ground truth, which has holes (`masked_scale_invariant_loss`), or from
their frames alone (`self_supervised_loss`).
"""
from __future__ import annotations

import dataclasses
import functools
import pathlib

import copy

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from skimage import color, data

from . import _checks, cache, learned, torchutils

__all__ = ["MIDDLEBURY", "REAL_PAIRS", "REAL_SPLITS", "RealPair", "fine_tune", "load_middlebury",
           "load_motorcycle", "load_real", "make_pair", "masked_scale_invariant_loss",
           "self_supervised_loss"]

#: The Middlebury pairs that ship with the package, by dataset year: 2001, 2003, 2005, 2014.
MIDDLEBURY = ("tsukuba", "venus", "sawtooth", "barn1", "barn2", "poster",
              "cones", "teddy",
              "art", "dolls", "laundry", "moebius",
              "adirondack", "piano", "pipes", "playroom", "playtable", "recycle", "shelves",
              "vintage")
#: Every real pair `load_real` knows: scikit-image's Motorcycle and the shipped Middlebury pairs.
REAL_PAIRS = ("motorcycle",) + MIDDLEBURY
#: The real pairs split once, by dataset year so that each year is on both sides: choices about
#: real data (a scale, a recipe, fine-tuning) are made on the validation pairs, and numbers about
#: real data are reported on the test pairs.
REAL_SPLITS = {
    "validation": ("tsukuba", "barn1", "teddy", "laundry", "pipes", "playtable", "shelves"),
    "test": ("venus", "sawtooth", "barn2", "poster", "cones", "art", "dolls", "moebius",
             "adirondack", "piano", "playroom", "recycle", "vintage", "motorcycle"),
}

_DATA = pathlib.Path(__file__).resolve().parent / "data" / "middlebury"

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
        Depth in metres (Motorcycle), or relative depth ``1 / disparity`` (the Middlebury pairs
        without a calibration); inf where it is unknown.
    disparity : (H, W) float32 array
        Flow length in pixels, ``focal * baseline / depth``; NaN where unknown.
    valid : (H, W) bool array
        Pixels with known depth.
    direction : (2,) float64 array
        Unit flow direction, ``(-1, 0)``: points move left from frame 0 to frame 1.
    focal : float
        Focal length in pixels at this scale; NaN where the dataset gives no calibration.
    baseline : float
        Camera translation in metres; NaN where the dataset gives no calibration.
    name : str
        Which pair (one of `REAL_PAIRS`).
    """

    frame0: np.ndarray
    frame1: np.ndarray
    depth: np.ndarray
    disparity: np.ndarray
    valid: np.ndarray
    direction: np.ndarray
    focal: float
    baseline: float
    name: str = "motorcycle"


def _shrink(image, size):
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _scaled_size(shape, scale):
    """``(width, height)`` of a ``shape`` image at ``scale``, at least 16 pixels a side."""
    size = (round(shape[1] * scale), round(shape[0] * scale))
    if min(size) < 16:
        raise ValueError(f"scale {scale} gives {size[0]} x {size[1]} pixels; use at least "
                         f"{16 / min(shape):.3f} for 16 pixels")
    return size


def _scaled_disparity(disparity, known, size, scale):
    """Disparity at ``size`` by area averaging, in pixels of that size; a pixel is known only
    if every source pixel under its footprint is known. Returns (disparity with NaN where
    unknown, valid mask)."""
    unknown = _shrink((~known).astype(np.float32), size) > 0
    disparity = _shrink(np.where(known, disparity, 0.0).astype(np.float32), size) * scale
    valid = ~unknown & (disparity > 0)
    return np.where(valid, disparity, np.nan).astype(np.float32), valid


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
    size = _scaled_size(left.shape, scale)
    known = np.isfinite(disparity)
    # Shift the right image left by doffs: both cameras then share one principal point.
    shift = np.float32([[1, 0, -_DOFFS_PX], [0, 1, 0]])
    right = cv2.warpAffine(right, shift, right.shape[::-1], flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    disparity, valid = _scaled_disparity(disparity + _DOFFS_PX, known, size, scale)
    focal = _FOCAL_PX * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(valid, focal * _BASELINE_M / disparity, np.inf).astype(np.float32)
    return RealPair(frame0=np.clip(_shrink(left, size), 0, 1),
                    frame1=np.clip(_shrink(right, size), 0, 1),
                    depth=depth, disparity=disparity, valid=valid,
                    direction=np.array([-1.0, 0.0]), focal=focal, baseline=_BASELINE_M)


@functools.lru_cache(maxsize=len(MIDDLEBURY))
def _middlebury(name):
    folder = _DATA / name
    frames = [cv2.imread(str(folder / f"{side}.png"), cv2.IMREAD_GRAYSCALE)
              for side in ("left", "right")]
    coded = cv2.imread(str(folder / "disparity.png"), cv2.IMREAD_UNCHANGED)
    if any(image is None for image in frames) or coded is None or coded.dtype != np.uint16:
        raise FileNotFoundError(f"the Middlebury pair {name!r} is missing or damaged in "
                                f"{folder}; reinstall the package")
    return (*(f.astype(np.float32) / np.float32(255.0) for f in frames),
            coded.astype(np.float32) / np.float32(256.0))


def load_middlebury(name: str, *, scale: float = 1.0) -> RealPair:
    """A Middlebury pair that ships with the package, at ``scale`` times its stored size.

    Parameters
    ----------
    name : str
        One of `MIDDLEBURY`: "tsukuba", "venus", "sawtooth", "barn1", "barn2", "poster"
        (2001), "cones", "teddy" (2003), "art", "dolls", "laundry", "moebius" (2005),
        "adirondack", "piano", "pipes", "playroom", "playtable", "recycle", "shelves",
        "vintage" (2014).
    scale : float
        In (0, 1]; 1 gives the stored size, about 200 pixels wide (the README next to the data
        lists each pair's size and disparity range). Frames are downscaled by area averaging;
        a downscaled pixel has ground truth only if every stored pixel under it has.

    Returns
    -------
    RealPair
        Rectified left and right grey frames (the flow is ``-d`` in x), the disparity, and
        relative depth ``1 / d``; ``focal`` and ``baseline`` are NaN (no calibration).

    References
    ----------
    D. Scharstein and R. Szeliski, IJCV 2002 (2001 pairs); D. Scharstein and R. Szeliski,
    CVPR 2003 (2003 pairs); D. Scharstein and C. Pal, CVPR 2007 (2005 pairs); D. Scharstein
    et al., GCPR 2014 (2014 pairs).
    """
    if name not in MIDDLEBURY:
        raise ValueError(f"name must be one of {MIDDLEBURY}, got {name!r}")
    return make_pair(*_middlebury(name), scale=scale, name=name)


def make_pair(frame0: np.ndarray, frame1: np.ndarray, disparity: np.ndarray, *,
              known: np.ndarray | None = None, scale: float = 1.0,
              name: str = "pair") -> RealPair:
    """A `RealPair` of any rectified stereo pair with ground truth, at ``scale``.

    Parameters
    ----------
    frame0, frame1 : (H, W) arrays
        The left and right grey frames, uint8 or float in [0, 1], rectified and sharing one
        principal point, so that a point at disparity ``d`` moves by ``-d`` in x.
    disparity : (H, W) array of real numbers
        True disparity in pixels of this size.
    known : (H, W) bool array, optional
        Pixels whose disparity is known; by default those where it is finite and positive.
    scale : float
        In (0, 1]: frames downscaled by area averaging; a downscaled pixel is known only if
        every pixel under it is.
    name : str
        A name for the pair.

    Returns
    -------
    RealPair
        Relative depth ``1 / d``; ``focal`` and ``baseline`` are NaN (no calibration).
    """
    left, right = _checks.frame_pair(frame0, frame1)
    disparity = np.asarray(disparity)
    if disparity.shape != left.shape or not np.issubdtype(disparity.dtype, np.number):
        raise ValueError(f"disparity must be a real array of the frames' shape {left.shape}, got "
                         f"{disparity.dtype} {disparity.shape}")
    disparity = disparity.astype(np.float32)
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(disparity) & (disparity > 0)
    if known is None:
        known = usable
    elif not isinstance(known, np.ndarray) or known.dtype != bool or known.shape != left.shape:
        raise TypeError(f"known must be a boolean array of the frames' shape {left.shape}")
    elif (known & ~usable).any():
        raise ValueError("known marks pixels whose disparity is not finite and positive")
    if not known.any():
        raise ValueError("no pixel has a known disparity")
    scale = _checks.number("scale", scale, 0.0, 1.0)
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    size = _scaled_size(left.shape, scale)
    disparity, valid = _scaled_disparity(np.where(known, disparity, 0.0), known, size, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(valid, 1.0 / disparity, np.inf).astype(np.float32)
    return RealPair(frame0=np.clip(_shrink(left, size), 0, 1),
                    frame1=np.clip(_shrink(right, size), 0, 1), depth=depth,
                    disparity=disparity, valid=valid, direction=np.array([-1.0, 0.0]),
                    focal=float("nan"), baseline=float("nan"), name=name)


def load_real(name: str, *, scale: float = 1.0) -> RealPair:
    """Any real pair of the book by name.

    Parameters
    ----------
    name : str
        One of `REAL_PAIRS`.
    scale : float
        In (0, 1]: the size relative to the pair's full size here (scikit-image's 741 x 500
        pixels for Motorcycle, the stored size for the Middlebury pairs).

    Returns
    -------
    RealPair
        As `load_motorcycle` or `load_middlebury` returns it.
    """
    if name not in REAL_PAIRS:
        raise ValueError(f"name must be one of {REAL_PAIRS}, got {name!r}")
    return load_motorcycle(scale) if name == "motorcycle" else load_middlebury(name,
                                                                               scale=scale)


def masked_scale_invariant_loss(disparity: torch.Tensor, target: torch.Tensor,
                                valid: torch.Tensor) -> torch.Tensor:
    """`learned.scale_invariant_loss` on the pixels with ground truth only.

    Parameters
    ----------
    disparity : (N, 1, H, W) tensor
        Predicted relative disparity; values below 1e-3 count as 1e-3.
    target : (N, 1, H, W) tensor
        True disparity, positive where ``valid``.
    valid : (N, 1, H, W) bool tensor
        Pixels with ground truth. A sample without any adds nothing.

    Returns
    -------
    scalar tensor
        The mean absolute log-disparity error over the valid pixels, after removing each
        sample's mean error on its valid pixels.
    """
    weight = valid.to(disparity.dtype)
    error = (torch.log(disparity.clamp_min(1e-3))
             - torch.log(torch.where(valid, target, torch.ones_like(target)))) * weight
    count = weight.sum(dim=(1, 2, 3), keepdim=True)
    centred = (error - error.sum(dim=(1, 2, 3), keepdim=True) / count.clamp_min(1)) * weight
    return centred.abs().sum() / count.sum().clamp_min(1)


def _ssim(a, b):
    """The structural similarity of two (N, 1, H, W) images over 3 x 3 windows, per pixel."""
    pool = lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)  # noqa: E731
    mean_a, mean_b = pool(a), pool(b)
    var_a, var_b = pool(a * a) - mean_a ** 2, pool(b * b) - mean_b ** 2
    covariance = pool(a * b) - mean_a * mean_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mean_a * mean_b + c1) * (2 * covariance + c2)
            / ((mean_a ** 2 + mean_b ** 2 + c1) * (var_a + var_b + c2)))


def self_supervised_loss(frames: torch.Tensor, disparity: torch.Tensor, *,
                         smoothness: float = 0.1) -> torch.Tensor:
    """The loss of a rectified pair without ground truth (Godard et al., CVPR 2017).

    Frame 1 is warped onto frame 0 by the predicted disparity (a point at ``x`` in the left
    frame is at ``x - d`` in the right one), and compared with frame 0: 0.85 of (1 - SSIM) / 2
    plus 0.15 of the absolute difference, on the pixels whose match lies inside frame 1. An
    edge-aware smoothness term, weighted by ``smoothness``, penalises changes of the
    disparity (divided by its mean) less where frame 0 has an edge.

    Parameters
    ----------
    frames : (N, 2, H, W) tensor
        Left and right frames in [0, 1].
    disparity : (N, 1, H, W) tensor
        Predicted disparity in pixels.
    smoothness : float
        Weight of the smoothness term.

    Returns
    -------
    scalar tensor
    """
    left, right = frames[:, :1], frames[:, 1:]
    n, _, h, w = left.shape
    xs = torch.arange(w, dtype=frames.dtype).view(1, 1, w) - disparity[:, 0]
    ys = torch.arange(h, dtype=frames.dtype).view(1, h, 1).expand_as(xs)
    grid = torch.stack([2 * xs / (w - 1) - 1, 2 * ys / (h - 1) - 1], -1)
    warped = F.grid_sample(right, grid, mode="bilinear", padding_mode="border",
                           align_corners=True)
    inside = ((xs >= 0) & (xs <= w - 1))[:, None].to(frames.dtype)
    error = 0.85 * (1 - _ssim(warped, left)).clamp(0, 2) / 2 + 0.15 * (warped - left).abs()
    photometric = (error * inside).sum() / inside.sum().clamp_min(1)
    relative = disparity / disparity.mean((2, 3), keepdim=True).clamp_min(1e-6)
    smooth = sum((torch.diff(relative, dim=axis).abs()
                  * torch.exp(-torch.diff(left, dim=axis).abs())).mean() for axis in (2, 3))
    return photometric + smoothness * smooth


def fine_tune(model: learned.DepthModel, pairs, *, steps: int = 60, lr: float = 1e-3,
              batch: int = 16, crop: tuple = (48, 64), seed: int = 0,
              labels: bool = True, smoothness: float = 0.1,
              cached: bool = True) -> learned.DepthModel:
    """A copy of a trained model, fine-tuned on real pairs, with their ground truth or without.

    Each step draws ``batch`` random crops (at even offsets, as `learned.fit` does) from
    pairs drawn at random, and takes one Adam step on `masked_scale_invariant_loss` (with
    ``labels``) or on `self_supervised_loss` of the frames alone (without). Seeded,
    on one thread with deterministic algorithms: two runs give the same weights, so the
    result is kept in the disk cache (`depthlab.cache`), named by the model's weights, the
    pairs' arrays, the settings and this module's code.

    Parameters
    ----------
    model : learned.DepthModel
        A trained model; it is left unchanged.
    pairs : sequence of RealPair
        The training pairs, each at least ``crop`` in size.
    steps : int
        Optimiser steps.
    lr : float
        Adam's learning rate.
    batch : int
        Crops per step.
    crop : (int, int)
        Even crop height and width.
    seed : int
        Seed of the draws of pairs and crops.
    labels : bool
        Learn from the ground truth; False learns from the two frames alone.
    smoothness : float
        Weight of the smoothness term without labels.
    cached : bool
        Read the result from the disk cache when it is there, and write it there when not.

    Returns
    -------
    learned.DepthModel
        The fine-tuned copy; its ``losses`` are the loss at every step.
    """
    if not isinstance(model, learned.DepthModel) or not model.trained:
        raise TypeError("model must be a trained learned.DepthModel")
    pairs = list(pairs)
    if not pairs or not all(isinstance(p, RealPair) for p in pairs):
        raise TypeError("pairs must be a non-empty sequence of RealPair")
    steps = _checks.integer("steps", steps, 1, 100_000)
    lr = _checks.number("lr", lr, 0.0, 1.0)
    batch = _checks.integer("batch", batch, 1, 1024)
    if not (isinstance(crop, tuple) and len(crop) == 2):
        raise TypeError(f"crop must be a (height, width) tuple, got {crop!r}")
    crop = tuple(_checks.integer("crop", side, 2, 4096) for side in crop)
    if crop[0] % 2 or crop[1] % 2:
        raise ValueError(f"crop must have even sides, got {crop}")
    if not isinstance(labels, bool):
        raise TypeError(f"labels must be True or False, got {labels!r}")
    smoothness = _checks.number("smoothness", smoothness, 0.0, 100.0)
    small = [p.name for p in pairs if p.frame0.shape[0] < crop[0] or p.frame0.shape[1] < crop[1]]
    if small:
        raise ValueError(f"the pairs {small} are smaller than the crop {crop}")
    if cached:
        weights = [t.detach().numpy() for t in model.net.state_dict().values()]
        arrays = [a for p in pairs for a in (p.frame0, p.frame1, p.disparity, p.valid)]
        path = cache.entry("finetuned", steps, lr, batch, list(crop), seed, labels, smoothness,
                           model.model_config, cache.array_digest(*weights),
                           cache.array_digest(*arrays), code=__name__, suffix=".pt")
        if path.is_file():
            return learned.load(path)
    frames = [torch.from_numpy(np.stack([p.frame0, p.frame1])) for p in pairs]
    targets = [torch.from_numpy(np.nan_to_num(p.disparity, nan=1.0))[None] for p in pairs]
    valids = [torch.from_numpy(p.valid)[None] for p in pairs]
    net = copy.deepcopy(model.net)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    (ch, cw), losses = crop, np.zeros(steps)
    with torchutils.reproducible(1):
        net.train()
        for step in range(steps):
            items = []
            for k in torch.randint(0, len(pairs), (batch,), generator=generator).tolist():
                h, w = frames[k].shape[-2:]
                top = 2 * int(torch.randint(0, (h - ch) // 2 + 1, (1,), generator=generator))
                left = 2 * int(torch.randint(0, (w - cw) // 2 + 1, (1,), generator=generator))
                items.append([t[:, top:top + ch, left:left + cw]
                              for t in (frames[k], targets[k], valids[k])])
            x, target, valid = (torch.stack(parts) for parts in zip(*items))
            loss = (masked_scale_invariant_loss(net(x), target, valid) if labels
                    else self_supervised_loss(x, net(x), smoothness=smoothness))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses[step] = loss.item()
        net.eval()
    tuned = dataclasses.replace(model, net=net, losses=losses)
    if cached:
        cache.write_atomic(path, lambda target: learned.save(tuned, target))
    return tuned
