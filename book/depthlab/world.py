"""The synthetic two-frame world: planar scenes with exact ground-truth depth.

A scene is a handful of textured planar surfaces in front of a tilted background plane,
seen by a pinhole camera from two positions that differ by a translation in the image
plane. Everything is a pure function of ``(seed, index, config)``.

Geometry (all in the frame of camera 0, focal length ``f`` in pixels, normalised image
coordinates ``xn = (x - cx) / f``):

* a plane ``alpha * Z + beta * X + gamma * Y = 1`` seen from a camera centred at
  ``(c_x, c_y, 0)`` has inverse depth ``(alpha + beta * xn + gamma * yn) / (1 - beta * c_x
  - gamma * c_y)``, which is affine in the image coordinates;
* camera 1 sits at ``t = (t_x, t_y, 0)``, so a point at depth ``Z`` moves by the flow
  ``-f * t / Z``: all flow vectors are parallel, and their length, the disparity, is
  ``f * |t| / Z``.

Each frame is rendered on its own: for every pixel, the nearest surface along the ray is
found with a z-buffer, and its texture is sampled at the 3-D point hit. Textures are the
photos that scikit-image ships [1]_.

References
----------
.. [1] S. van der Walt et al., "scikit-image: image processing in Python", PeerJ 2:e453, 2014.
.. [2] T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet and J. T. Barron, "Unprocessing
   images for learned raw denoising", CVPR 2019.
.. [3] B. Zhang, J. Zerubia and J.-C. Olivo-Marin, "Gaussian approximations of fluorescence
   microscope point-spread function models", Applied Optics 46(10), 2007.
.. [4] R. Hartley and A. Zisserman, "Multiple View Geometry in Computer Vision", 2nd ed.,
   Cambridge University Press, 2004, section 11.12 (image rectification).
.. [5] N. Mayer, E. Ilg, P. Haeusser, P. Fischer, D. Cremers, A. Dosovitskiy and T. Brox, "A
   large dataset to train convolutional networks for disparity, optical flow, and scene flow
   estimation", CVPR 2016.
.. [6] J. Tobin, R. Fong, A. Ray, J. Schneider, W. Zaremba and P. Abbeel, "Domain
   randomization for transferring deep neural networks from simulation to the real world",
   IROS 2017.
"""
from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
from scipy import ndimage
from skimage import color, data

from . import _checks

__all__ = ["CAMERAS", "DOMAINS", "HELD_OUT_SEED", "TRAIN_SEED", "VALIDATION_SEED", "WORLDS",
           "Scene", "WorldConfig", "render_scene", "render_scenes"]

#: Texture sets ("domains") that scenes draw their surfaces from.
DOMAINS = {
    "photos": ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "brick", "grass",
               "gravel"),
    "microscopy": ("immunohistochemistry", "retina", "cell", "hubble_deep_field"),
    "documents": ("moon", "page", "text"),
    "repetitive": ("checkerboard", "brick"),
}

#: The seed of the held-out test scenes that every chapter scores on.
HELD_OUT_SEED = 1_000_003

#: The seed of the training scenes.
TRAIN_SEED = 0

#: The seed of the validation scenes: every choice (a threshold, a step budget) is made on
#: them, so that the test scenes only report.
VALIDATION_SEED = 2_000_003

_LOW_TEXTURE_CONTRAST = 0.04


def _read_noise(shot_noise: float) -> float:
    """The read noise (standard deviation) that goes with ``shot_noise`` in real raw
    photographs: ``log(read variance) = 2.18 log(shot_noise) + 1.20`` [2]_."""
    return float(np.sqrt(np.exp(2.18 * np.log(shot_noise) + 1.20)))


#: The default camera's shot noise: the middle, on a log scale, of the range that Brooks et
#: al. [2]_ draw from to model real cameras (1e-4 to 0.012).
_TYPICAL_SHOT = float(np.sqrt(1e-4 * 0.012))


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """The knobs of the synthetic world.

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    focal : float
        Focal length as a multiple of the width (1.0 gives a 53 degree field of view).
    objects : (int, int)
        Inclusive range of the number of foreground surfaces.
    object_depth, background_depth : (float, float)
        Depth ranges (world units) of the foreground surfaces and of the background plane.
    background_tilt : float
        Largest relative change of the background's inverse depth per unit of normalised
        image coordinate; its direction is random.
    slant_probability : float
        Probability that a foreground surface is slanted instead of fronto-parallel.
    max_slant : float
        Largest relative change of a slanted surface's inverse depth per unit of
        normalised image coordinate.
    low_texture_share : float
        Probability that a surface is nearly textureless.
    noise : float
        Standard deviation of the signal-independent sensor noise (read noise; intensities
        are in [0, 1]).
    shot_noise : float
        Signal-dependent noise: the noise variance grows by ``shot_noise`` per unit of
        intensity, so a pixel of intensity ``y`` gets a standard deviation of
        ``sqrt(noise**2 + shot_noise * y)`` (the Poissonian-Gaussian model of raw sensor data).
    lighting_change : float
        Largest relative gain change between the two frames (exposure, or the light); the
        offset change is half.
    blur : float
        Standard deviation in pixels of the Gaussian blur of both frames (the optics'
        point-spread function, or defocus); 0 renders them sharp.
    brightness : float
        Exposure of both frames (1.0 is normal, smaller is darker).
    motion_direction : float
        Mean direction of the flow in degrees (0 is to the right, 90 is down).
    motion_spread : float
        Width in degrees of the uniform range of flow directions around the mean
        (0 keeps the motion fixed, 360 allows any direction).
    baseline : (float, float)
        Range of the camera translation length (world units).
    domain : str
        The texture set, a key of `DOMAINS`.
    """

    height: int = 64
    width: int = 96
    focal: float = 1.0
    objects: tuple[int, int] = (2, 5)
    object_depth: tuple[float, float] = (3.0, 6.0)
    background_depth: tuple[float, float] = (6.0, 10.0)
    background_tilt: float = 0.9
    slant_probability: float = 0.5
    max_slant: float = 1.0
    low_texture_share: float = 0.15
    noise: float = _read_noise(_TYPICAL_SHOT)
    shot_noise: float = _TYPICAL_SHOT
    lighting_change: float = 0.1
    blur: float = 0.5
    brightness: float = 1.0
    motion_direction: float = 0.0
    motion_spread: float = 360.0
    baseline: tuple[float, float] = (0.25, 0.4)
    domain: str = "photos"

    def __post_init__(self):
        for name in ("height", "width"):
            _checks.integer(name, getattr(self, name), 16, 4096)
        _checks.interval("objects", self.objects, 0, integer_values=True)
        _checks.interval("object_depth", self.object_depth, 1e-3)
        _checks.interval("background_depth", self.background_depth, 1e-3)
        _checks.interval("baseline", self.baseline, 1e-6)
        if self.object_depth[1] > self.background_depth[0]:
            raise ValueError("object_depth must lie in front of background_depth, got "
                             f"{self.object_depth} and {self.background_depth}")
        for name, low, high in (("slant_probability", 0, 1), ("low_texture_share", 0, 1),
                                ("focal", 0.1, 10), ("background_tilt", 0, 0.95),
                                ("max_slant", 0, 2), ("noise", 0, 0.5),
                                ("shot_noise", 0, 0.1), ("blur", 0, 5),
                                ("lighting_change", 0, 0.9), ("brightness", 0.05, 2),
                                ("motion_direction", -360, 360), ("motion_spread", 0, 360)):
            _checks.number(name, getattr(self, name), low, high)
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {sorted(DOMAINS)}, got {self.domain!r}")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return self.focal * self.width

    @property
    def max_disparity(self) -> float:
        """An upper bound, in pixels, on every disparity this world can produce.

        The nearest surface point lies on a foreground plane at most ``object_depth[0]``
        away at its centre, slanted by at most ``max_slant``: its inverse depth grows by at
        most ``max_slant`` times its distance from the centre in normalised image
        coordinates, which is at most the image diagonal. The background is farther and
        tilts less. Disparity is ``focal_px * baseline / depth``.
        """
        diagonal = np.hypot(self.width, self.height) / self.focal_px
        nearest = max(1.0 + self.max_slant * diagonal, 1.0 + self.background_tilt * diagonal
                      * self.object_depth[0] / self.background_depth[0])
        return float(self.focal_px * self.baseline[1] / self.object_depth[0] * nearest)


#: Named cameras, from the easiest to the hardest, in the default world's geometry.
#: "typical" is the default camera: the noise of real raw photographs at the middle (on a log
#: scale) of the shot noise range that Brooks et al. [2]_ draw from to model real cameras (1e-4
#: to 0.012), with the read noise that goes with it, and the optical blur of an in-focus lens:
#: a diffraction-limited lens has a point-spread function of about 0.42 wavelength times
#: f-number [3]_, some 0.5 to 2 micrometres, and the pixel's own area adds 0.29 pixel, so 0.5
#: pixel in all. "low_light" takes the top of that range. "ideal" is the book's first camera:
#: a little signal-independent noise (0.01) and no blur.
CAMERAS = {
    "ideal": WorldConfig(noise=0.01, shot_noise=0.0, blur=0.0),
    "typical": WorldConfig(),
    "low_light": WorldConfig(noise=_read_noise(0.012), shot_noise=0.012),
}

#: Named worlds, one knob group at a time. "reference" is the world of chapters 1 to 9: a
#: camera that moves in any direction, largest disparities of 5 to 15 px. "rectified" is a
#: calibrated stereo rig whose frames are rectified [4]_, as real stereo pairs are: the motion
#: runs along the rows, and points move left from the left frame to the right one. "wide" adds
#: the range of disparities real pairs are scored at, a baseline range that gives each scene a
#: largest disparity of about 2 to 32 px (median 15), as FlyingThings3D draws its camera
#: motion over a wide range [5]_. "randomized" adds more occluding surfaces (2 to 8, of random
#: shapes, depths and slants [5]_) and three times the lighting change between the frames,
#: the photometric part of domain randomization [6]_: the family real photographs are one
#: more member of.
WORLDS = {"reference": WorldConfig()}
WORLDS["rectified"] = dataclasses.replace(WORLDS["reference"], motion_direction=180.0,
                                          motion_spread=0.0)
WORLDS["wide"] = dataclasses.replace(WORLDS["rectified"], baseline=(0.1, 0.9))
WORLDS["randomized"] = dataclasses.replace(WORLDS["wide"], objects=(2, 8), lighting_change=0.3)


@dataclasses.dataclass(frozen=True)
class Scene:
    """Rendered two-frame scenes with their ground truth.

    A single scene has the shapes below; a batch from `render_scenes` has the same fields
    with a leading axis of length N (``direction`` is (N, 2), ``baseline`` is (N,)). Index a
    batch (``batch[i]``) to get one scene.

    Attributes
    ----------
    frame0, frame1 : (H, W) float32 arrays
        Grey-level frames in [0, 1]; frame 0 is the reference view.
    depth : (H, W) float32 array
        Depth of every frame-0 pixel (world units, > 0).
    flow : (H, W, 2) float32 array
        Ground-truth optical flow ``(dx, dy)`` in pixels from frame 0 to frame 1.
    visible : (H, W) bool array
        Frame-0 pixels whose surface point is also seen in frame 1 (not occluded, inside).
    low_texture : (H, W) bool array
        Frame-0 pixels that lie on a nearly textureless surface.
    direction : (2,) float64 array
        Unit vector of the flow direction (the same for every pixel).
    focal : float
        Focal length in pixels.
    baseline : float
        Length of the camera translation (world units).
    """

    frame0: np.ndarray
    frame1: np.ndarray
    depth: np.ndarray
    flow: np.ndarray
    visible: np.ndarray
    low_texture: np.ndarray
    direction: np.ndarray
    focal: float
    baseline: float

    @property
    def disparity(self) -> np.ndarray:
        """(H, W) or (N, H, W) float32 flow length in pixels, ``focal * baseline / depth``."""
        baseline = np.asarray(self.baseline, np.float32).reshape(-1, *[1] * 2)
        return (self.focal * baseline / self.depth).astype(np.float32).reshape(self.depth.shape)

    def __len__(self):
        if self.frame0.ndim != 3:
            raise TypeError("a single Scene has no length; render_scenes returns a batch")
        return self.frame0.shape[0]

    def __getitem__(self, i):
        if self.frame0.ndim != 3:
            raise TypeError("a single Scene cannot be indexed; render_scenes returns a batch")
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Scene(**{k: (v[i] if isinstance(v, np.ndarray) else v)
                        for k, v in fields.items()})


_TILE = 512  # texture tiles are _TILE x _TILE texels


@functools.lru_cache(maxsize=None)
def _texture(name: str) -> np.ndarray:
    """A texture source: the named scikit-image photo, grey, resized to a square tile, with
    zero mean and a standard deviation of 0.2, and blurred against aliasing."""
    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = cv2.resize(image.astype(np.float32), (_TILE, _TILE), interpolation=cv2.INTER_AREA)
    image = (image - image.mean()) / max(float(image.std()), 1e-6)
    return 0.2 * cv2.GaussianBlur(image, (0, 0), 1.0)


@functools.lru_cache(maxsize=None)
def _atlas(domain: str) -> np.ndarray:
    """The tiles of a domain's textures side by side, so that one `cv2.remap` samples every
    surface of a view."""
    return np.concatenate([_texture(name) for name in DOMAINS[domain]], axis=1)


def _mirror(coordinate):
    """Reflects texture coordinates into [0, _TILE - 1]: the tile repeats, mirrored."""
    last = np.float32(_TILE - 1)
    folded = coordinate - (2 * last) * np.floor(coordinate * (0.5 / last))
    return last - np.abs(folded - last)


# Uniform draws per surface, in this order (see `_draw_surfaces`).
_SURFACE_DRAWS = ("depth", "centre_x", "centre_y", "slanted", "slant", "slant_angle",
                  "radius_x", "radius_y", "outline_angle", "texture", "texel_scale",
                  "texture_angle", "offset_x", "offset_y", "albedo", "contrast", "low_texture")
# Uniform draws per scene before the surfaces: the flow direction, the baseline, the gain and
# offset between the frames, and the number of objects.
_SCENE_DRAWS = 5


def _draw_surfaces(u, config):
    """Turns uniform draws (N, S, len(_SURFACE_DRAWS)) into planes, outlines and textures.

    Surface 0 of every scene is the background, a tilted plane without an outline; surface
    ``s > 0`` is an ellipse when ``s`` is odd and a rectangle when it is even.
    """
    d = dict(zip(_SURFACE_DRAWS, np.moveaxis(u, -1, 0)))
    lerp = lambda lo_hi, t: lo_hi[0] + (lo_hi[1] - lo_hi[0]) * t  # noqa: E731
    f = config.focal_px
    background = np.arange(u.shape[1]) == 0
    z0 = np.where(background, lerp(config.background_depth, d["depth"]),
                  lerp(config.object_depth, d["depth"]))
    half_w, half_h = 0.5 * config.width / f, 0.5 * config.height / f
    centre_x = np.where(background, 0.0, half_w * (2 * d["centre_x"] - 1))
    centre_y = np.where(background, 0.0, half_h * (2 * d["centre_y"] - 1))
    slant = np.where(background, config.background_tilt * d["slant"],
                     np.where(d["slanted"] < config.slant_probability,
                              config.max_slant * d["slant"], 0.0))
    inv0 = 1.0 / z0
    beta = inv0 * slant * np.cos(2 * np.pi * d["slant_angle"])
    gamma = inv0 * slant * np.sin(2 * np.pi * d["slant_angle"])
    radius = np.stack([lerp((0.08, 0.3), d["radius_x"]), lerp((0.08, 0.3), d["radius_y"])], -1)
    # Texels per world unit: 1.5 to 3 texels per pixel where the surface is farthest (for the
    # background, at the image corners). Nearer parts are magnified, never minified more, so
    # the texture's one-texel blur keeps aliasing small.
    corners = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]]) * [half_w, half_h]
    farthest = np.where(background, 1.0 / np.min(
        (inv0 - beta * centre_x - gamma * centre_y)[..., None]
        + beta[..., None] * corners[:, 0] + gamma[..., None] * corners[:, 1], axis=-1), z0)
    scale = lerp((1.5, 3.0), d["texel_scale"]) * f / farthest
    texture = (d["texture"] * len(DOMAINS[config.domain])).astype(int)
    low = d["low_texture"] < config.low_texture_share
    return dict(
        plane=np.stack([inv0 - beta * centre_x - gamma * centre_y, beta, gamma], -1),
        centre=np.stack([centre_x, centre_y], -1) * z0[..., None],
        radii=radius * z0[..., None],
        outline_angle=np.pi * d["outline_angle"],
        texel_scale=scale,
        texture_angle=2 * np.pi * d["texture_angle"],
        texture_offset=_TILE * np.stack([d["offset_x"], d["offset_y"]], -1),
        tile=_TILE * texture,
        albedo=lerp((0.3, 0.7), d["albedo"]),
        contrast=np.where(low, _LOW_TEXTURE_CONTRAST, lerp((0.8, 1.3), d["contrast"])))


def _affine(coefficients, xn, yn):
    """Evaluates ``c0 + c1 * xn + c2 * yn`` for (N, 3) coefficients on the (W,) and (H,)
    coordinate axes; returns (N, H, W) float32."""
    c = coefficients.astype(np.float32)[:, None, None, :]
    return (c[..., 0] + c[..., 1] * xn) + c[..., 2] * yn[:, None]


def _render_views(surfaces, camera, xn, yn, domain, rows):
    """Z-buffers N scenes' surfaces for cameras centred at ``camera`` (N, 2).

    The inverse depth of a plane is affine in the normalised coordinates, and so are the
    outline coordinates times the inverse depth, so the outline tests need no division.
    ``rows`` (N * H, W) float32 holds each pixel's scene index. Returns the grey images before
    lighting and noise, the inverse depth, and the contrast of the visible surface, each
    (N, H, W).
    """
    cx, cy = camera[:, 0, None, None], camera[:, 1, None, None]
    plane = surfaces["plane"]
    # Inverse depth seen from this camera: (alpha + beta xn + gamma yn) / D.
    inv_c = plane / (1.0 - plane[..., 1:2] * cx - plane[..., 2:3] * cy)
    inv_c[~surfaces["present"]] = (-1.0, 0.0, 0.0)  # absent surfaces are never nearest
    # (X - X0) * inv = xn + (cx - X0) * inv, and likewise for Y: affine in (xn, yn).
    rel_x = np.array([0.0, 1.0, 0.0]) + (cx - surfaces["centre"][..., :1]) * inv_c
    rel_y = np.array([0.0, 0.0, 1.0]) + (cy - surfaces["centre"][..., 1:]) * inv_c
    cos_o = np.cos(surfaces["outline_angle"])[..., None]
    sin_o = np.sin(surfaces["outline_angle"])[..., None]
    u = (cos_o * rel_x + sin_o * rel_y) / surfaces["radii"][..., :1]
    v = (cos_o * rel_y - sin_o * rel_x) / surfaces["radii"][..., 1:]

    inverse_depth = _affine(inv_c[:, 0], xn, yn)
    winner = np.zeros(inverse_depth.shape, np.float32)  # float32, for cv2.remap below
    for s in range(1, plane.shape[1]):  # the z-buffer keeps the largest inverse depth
        inv, u_s, v_s = (_affine(c[:, s], xn, yn) for c in (inv_c, u, v))
        if s % 2:  # an ellipse: u^2 + v^2 <= 1, times inv^2 (in place, to spare memory)
            u_s *= u_s
            v_s *= v_s
            u_s += v_s
            inside = u_s <= np.multiply(inv, inv, out=v_s)
        else:  # a rectangle: max(|u|, |v|) <= 1, times inv
            inside = np.maximum(np.abs(u_s, out=u_s), np.abs(v_s, out=v_s), out=u_s) <= inv
        inside &= inv > inverse_depth
        np.copyto(inverse_depth, inv, where=inside)
        np.copyto(winner, s, where=inside)

    # Texture coordinates of the 3-D point hit: scale * rotation * (X - X0, Y - Y0) + centre.
    scale = surfaces["texel_scale"]
    a = scale * np.cos(surfaces["texture_angle"])
    b = scale * np.sin(surfaces["texture_angle"])
    dx = cx[..., 0] - surfaces["centre"][..., 0]
    dy = cy[..., 0] - surfaces["centre"][..., 1]
    start = surfaces["texture_offset"]
    n, h, w = inverse_depth.shape
    # Each pixel's surface coefficients, gathered by a nearest-neighbour remap of the
    # (N, S) coefficient tables: much faster than numpy's fancy indexing.
    columns = winner.reshape(n * h, w)
    geometry = np.stack([a, b, a * dx - b * dy + start[..., 0], b * dx + a * dy + start[..., 1]],
                        -1).astype(np.float32)
    k = cv2.split(cv2.remap(geometry, columns, rows, cv2.INTER_NEAREST))
    shade = cv2.split(cv2.remap(np.stack([surfaces["tile"], surfaces["albedo"],
                                          surfaces["contrast"]], -1).astype(np.float32),
                                columns, rows, cv2.INTER_NEAREST))
    p = (xn / inverse_depth).reshape(n * h, w)  # X - cx
    q = (yn[:, None] / inverse_depth).reshape(n * h, w)  # Y - cy
    sample = cv2.remap(_atlas(domain), _mirror(k[0] * p - k[1] * q + k[2]) + shade[0],
                       _mirror(k[1] * p + k[0] * q + k[3]), cv2.INTER_LINEAR)
    image = (shade[1] + shade[2] * sample).reshape(n, h, w)
    return image, inverse_depth, shade[2].reshape(n, h, w)


def render_scenes(seed: int, indices, config: WorldConfig = WorldConfig()) -> Scene:
    """Renders the scenes ``indices`` of the stream ``seed`` in one vectorised pass.

    Parameters
    ----------
    seed : int
        A non-negative integer naming the stream (e.g. `HELD_OUT_SEED` for test scenes).
    indices : sequence of int
        Non-negative scene indices. Scene ``i`` is a pure function of ``(seed, i, config)``:
        it is the same whatever batch it is rendered in, and different indices give
        independent scenes.
    config : WorldConfig
        The world's knobs.

    Returns
    -------
    Scene
        A batch: every array has a leading axis of length ``len(indices)``.
    """
    _checks.integer("seed", seed)
    indices = indices.tolist() if isinstance(indices, np.ndarray) else list(indices)
    if not indices:
        raise ValueError("indices must name at least one scene")
    for index in indices:
        _checks.integer("index", index)
    _checks.instance("config", config, WorldConfig)
    # OpenCV's remap takes images of fewer than 32767 rows, and chunks bound the memory.
    chunk = max(1, 16384 // config.height)
    if len(indices) > chunk:
        parts = [_render(seed, indices[i:i + chunk], config)
                 for i in range(0, len(indices), chunk)]
        return Scene(**{name: (np.concatenate([getattr(p, name) for p in parts])
                               if name != "focal" else parts[0].focal)
                        for name in (f.name for f in dataclasses.fields(Scene))})
    return _render(seed, indices, config)


def _render(seed, indices, config):
    """Renders a batch small enough for one pass (see `render_scenes`)."""
    h, w, f = config.height, config.width, config.focal_px
    n, count = len(indices), config.objects[1] + 1

    # One generator per scene, keyed by (seed, index): a scene does not depend on its batch.
    rngs = [np.random.default_rng([seed, index]) for index in indices]
    draws = np.stack([rng.random(_SCENE_DRAWS + count * len(_SURFACE_DRAWS)) for rng in rngs])
    scene = draws[:, :_SCENE_DRAWS]
    surfaces = _draw_surfaces(draws[:, _SCENE_DRAWS:].reshape(n, count, -1), config)
    n_objects = config.objects[0] + (scene[:, 4] * (config.objects[1] - config.objects[0] + 1))
    surfaces["present"] = np.arange(count) <= n_objects.astype(int)[:, None]
    angle = np.deg2rad(config.motion_direction + config.motion_spread * (scene[:, 0] - 0.5))
    direction = np.stack([np.cos(angle), np.sin(angle)], 1)
    baseline = config.baseline[0] + (config.baseline[1] - config.baseline[0]) * scene[:, 1]
    gain = 1.0 + config.lighting_change * (2 * scene[:, 2, None, None] - 1)
    offset = 0.5 * config.lighting_change * (2 * scene[:, 3, None, None] - 1)

    xn = ((np.arange(w) - 0.5 * (w - 1)) / f).astype(np.float32)
    yn = ((np.arange(h) - 0.5 * (h - 1)) / f).astype(np.float32)
    rows = np.repeat(np.arange(n, dtype=np.float32), h * w).reshape(n * h, w)
    image0, inv0, contrast0 = _render_views(surfaces, np.zeros((n, 2)), xn, yn, config.domain,
                                            rows)
    # Camera 1 moves against the flow direction.
    image1, inv1, _ = _render_views(surfaces, -baseline[:, None] * direction, xn, yn,
                                    config.domain, rows)

    disparity = (f * baseline[:, None, None]).astype(np.float32) * inv0
    flow = np.stack([disparity * direction[:, 0, None, None].astype(np.float32),
                     disparity * direction[:, 1, None, None].astype(np.float32)], -1)
    target_x = np.arange(w, dtype=np.float32) + flow[..., 0]
    target_y = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    inside = (target_x >= 0) & (target_x <= w - 1) & (target_y >= 0) & (target_y <= h - 1)
    target_rows = np.clip(target_y, 0, h - 1).reshape(n * h, w) + h * rows
    seen = cv2.remap(inv1.reshape(n * h, w), np.clip(target_x, 0, w - 1).reshape(n * h, w),
                     target_rows, cv2.INTER_NEAREST).reshape(n, h, w)
    visible = inside & (np.abs(seen - inv0) <= 0.01 * inv0)

    # The optics blur the light before it reaches the sensor; the exposure scales it.
    if config.blur > 0:
        image0, image1 = (ndimage.gaussian_filter(image, (0, config.blur, config.blur),
                                                  mode="mirror") for image in (image0, image1))
    signal = (config.brightness * image0, config.brightness * (gain * image1 + offset))
    # Zero-mean sensor noise (uniform, for speed) with standard deviation config.noise, and
    # sqrt(config.noise ** 2 + config.shot_noise * signal) with shot noise.
    noise = np.stack([rng.random((2, h, w), dtype=np.float32) for rng in rngs], 1) - 0.5
    if config.shot_noise > 0:
        noise *= np.float32(np.sqrt(12.0)) * np.sqrt(
            config.noise ** 2 + config.shot_noise * np.clip(signal, 0.0, 1.0)).astype(np.float32)
    else:
        noise *= np.float32(np.sqrt(12.0) * config.noise)
    frame0, frame1 = (np.clip(s + n, 0.0, 1.0) for s, n in zip(signal, noise))
    return Scene(frame0=frame0.astype(np.float32), frame1=frame1.astype(np.float32),
                 depth=(1.0 / inv0).astype(np.float32), flow=flow,
                 visible=visible, low_texture=contrast0 == np.float32(_LOW_TEXTURE_CONTRAST),
                 direction=direction, focal=f, baseline=baseline)


def render_scene(seed: int, index: int, config: WorldConfig = WorldConfig()) -> Scene:
    """Renders scene ``index`` of the stream ``seed``: ``render_scenes(seed, [index])[0]``.

    Parameters
    ----------
    seed : int
        A non-negative integer naming the stream (e.g. `HELD_OUT_SEED` for test scenes).
    index : int
        A non-negative scene index; the scene is the same as in any batch that holds it.
    config : WorldConfig
        The world's knobs.

    Returns
    -------
    Scene
        Both (H, W) frames and the ground truth, with ``(H, W) = (config.height,
        config.width)``.
    """
    _checks.integer("index", index)
    return render_scenes(seed, [index], config)[0]
