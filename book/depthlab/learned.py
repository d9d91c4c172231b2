"""The learned model: one inference call from two frames to relative depth.

`DepthNet` turns two grey frames into a dense disparity map (the flow length in pixels).
Nothing in it knows the camera's motion or how to match: it is given the products of the
two frames' locally normalised intensities at every displacement within a small window (a
correlation "cost volume", a fixed and general operation), their average over the whole
image, and frame 0, and it learns from examples to turn those into disparity:

1. front end (fixed, not trained): frames at half resolution, local normalisation, the
   correlation at all ``(2r + 1)**2`` displacements, a 3 x 3 average, and the image-wide mean
   of each correlation channel, which tells every pixel where the whole scene matches best;
2. a per-pixel network (1 x 1 convolutions) over those channels;
3. dilated 3 x 3 convolutions for context, so that textureless areas borrow from their
   neighbours;
4. a positive output (softplus), upsampled to full resolution.

With ``coarse_radius`` set (`ModelConfig.for_world` sets it), a second cost volume at quarter
resolution searches far enough for the largest disparity the world can produce, and its first
layer is applied at quarter resolution and upsampled.

`train` fits it to scenes of `depthlab.world` with a budget of optimisation steps, or with
early stopping on validation scenes (`TrainConfig.patience`). The
loss is scale-invariant, like the metrics: the mean absolute error of log disparity after
removing each crop's mean log error (Eigen et al., 2014), since only relative depth is asked
for. `predict` returns relative depth (``1 / disparity``) like `classical.estimate_depth`.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import pathlib
import pickle
import random
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import _checks, metrics, world

__all__ = ["DataConfig", "DepthModel", "DepthNet", "ModelConfig", "SceneDataset", "TRAIN_SEED",
           "TrainConfig", "evaluate", "fit", "load", "predict", "predict_batch", "read_checkpoint",
           "reproducible", "save", "scale_invariant_loss", "seed_everything", "train", "untrained"]

#: The seed of the training scenes (the test scenes use `world.HELD_OUT_SEED`).
TRAIN_SEED = 0


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's global generators (the book's one seeding call).

    Parameters
    ----------
    seed : int
        The seed of all three, from 0 to 2**32 - 1.
    """
    seed = _checks.integer("seed", seed, 0, 2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of `DepthNet`.

    Parameters
    ----------
    radius : int
        Largest displacement searched, in half-resolution pixels (so ``2 * radius`` full-
        resolution pixels): at most 8 for the 2-D search, 32 for the epipolar one.
    hidden : int
        Width of the per-pixel network.
    context : int
        Width of the dilated context layers.
    coarse_radius : int
        Largest displacement of the second, quarter-resolution cost volume, in quarter-
        resolution pixels (so ``4 * coarse_radius`` full-resolution pixels); 0 leaves it out.
    search : str
        "2d" compares frame 0 with frame 1 displaced in any direction, a square window, for
        a camera that may move any way; "epipolar" only along image rows, for a rectified
        pair, whose epipolar lines are the rows: a 1-D search of ``2 * radius + 1``
        displacements instead of their square. It needs no quarter-resolution volume.
    """

    radius: int = 4
    hidden: int = 48
    context: int = 16
    coarse_radius: int = 0
    search: str = "2d"

    def __post_init__(self):
        if self.search not in ("2d", "epipolar"):
            raise ValueError(f"search must be '2d' or 'epipolar', got {self.search!r}")
        _checks.integer("radius", self.radius, 1, 8 if self.search == "2d" else 32)
        _checks.integer("hidden", self.hidden, 4, 512)
        _checks.integer("context", self.context, 4, 512)
        _checks.integer("coarse_radius", self.coarse_radius, 0,
                        16 if self.search == "2d" else 0)

    @property
    def search_range(self) -> int:
        """The largest disparity the cost volumes search, in full-resolution pixels."""
        return max(2 * self.radius, 4 * self.coarse_radius)

    @property
    def displacements(self) -> int:
        """Channels of the half-resolution cost volume: the displacements compared per pixel."""
        size = 2 * self.radius + 1
        return size if self.search == "epipolar" else size * size

    @classmethod
    def for_world(cls, config: world.WorldConfig, **fields) -> "ModelConfig":
        """The architecture whose search covers ``config.max_disparity``: the quarter-
        resolution volume reaches it, or with ``search="epipolar"`` the half-resolution one
        (``fields`` set the other parameters)."""
        if not isinstance(config, world.WorldConfig):
            raise TypeError(f"config must be a WorldConfig, got {type(config).__name__}")
        if fields.get("search") == "epipolar":
            return cls(radius=int(np.ceil(config.max_disparity / 2.0)), **fields)
        return cls(coarse_radius=int(np.ceil(config.max_disparity / 4.0)), **fields)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The training recipe.

    Without ``patience`` the budget is ``steps`` steps whatever the number of scenes, with a
    one-cycle learning-rate schedule. With it, ``steps`` is a cap: every ``check_every`` steps
    the loss on validation scenes is measured, the learning rate is halved when it did not
    improve, training stops after ``patience`` checks without improvement, and the weights of
    the best check are kept (early stopping).

    Parameters
    ----------
    steps : int
        Optimisation steps (Adam), or their cap with ``patience``.
    batch : int
        Crops (or whole frames) per step.
    crop : (int, int) or None
        Height and width of the random training crops, in full-resolution pixels (even);
        None trains on whole frames.
    lr : float
        Peak learning rate.
    seed : int
        Seeds the initial weights, the minibatch order, the crops and the flips.
    threads : int
        torch threads while training.
    flips : bool
        Flip each item left to right and upside down at random, frames and label alike (the
        motion flips with the frames, so the label still fits).
    patience : int or None
        Checks without improvement before early stopping; None trains the fixed budget.
    check_every : int
        Steps between validation checks (with ``patience``).
    """

    steps: int = 550
    batch: int = 16
    crop: tuple[int, int] | None = (48, 64)
    lr: float = 5e-3
    seed: int = 0
    threads: int = 2
    flips: bool = False
    patience: int | None = None
    check_every: int = 100

    def __post_init__(self):
        _checks.integer("steps", self.steps, 1, 10**6)
        _checks.integer("batch", self.batch, 1, 4096)
        if self.crop is not None:
            _checks.interval("crop", self.crop, 4, integer_values=True)
            if self.crop[0] % 2 or self.crop[1] % 2:
                raise ValueError(f"crop must have even sides, got {self.crop}")
        _checks.number("lr", self.lr, 1e-6, 1.0)
        _checks.integer("seed", self.seed, 0, 2**32 - 1)
        _checks.integer("threads", self.threads, 1, 256)
        if not isinstance(self.flips, bool):
            raise TypeError(f"flips must be True or False, got {self.flips!r}")
        if self.patience is not None:
            _checks.integer("patience", self.patience, 1, 10**6)
        _checks.integer("check_every", self.check_every, 1, 10**6)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How a training set of ``n_scenes`` items is filled from the world's scenes.

    Parameters
    ----------
    unique : int or None
        Distinct scenes, the first ``unique`` of the training stream; None makes every item a
        scene of its own. Item ``i`` shows scene ``i % unique``: the scenes are repeated, in
        order, until the set has ``n_scenes`` items.
    augment : bool
        Repeats are changed instead of copied. Repeat ``r = i // unique`` of a scene is
        flipped left to right if ``r & 1`` and upside down if ``r & 2``, frames and label
        alike (which flips the motion with them); from the fifth repeat on, both frames also
        get fresh sensor noise of the world's level. The frames are never swapped: the label
        is frame 0's depth, and it would not fit frame 1.
    label_noise : float
        Share of the items, drawn at random once, whose label is another scene's, as after a
        mix-up in a labelling pipeline.
    stream : int
        The world's stream (seed) the scenes come from; `TRAIN_SEED` by default. Training
        seeds of a study draw their own scenes from streams of their own.
    monocular : bool
        The control that cannot match: both inputs are frame 0, in training and (through
        the model's `DataConfig`) in `predict_batch`, so the model learns only the priors.
    """

    unique: int | None = None
    augment: bool = False
    label_noise: float = 0.0
    stream: int = 0
    monocular: bool = False

    def __post_init__(self):
        _checks.integer("stream", self.stream, 0, 2**32 - 1)
        if not isinstance(self.monocular, bool):
            raise TypeError(f"monocular must be True or False, got {self.monocular!r}")
        if self.unique is not None:
            _checks.integer("unique", self.unique, 1, 10**6)
        if not isinstance(self.augment, bool):
            raise TypeError(f"augment must be True or False, got {self.augment!r}")
        _checks.number("label_noise", self.label_noise, 0.0, 1.0)


def _conv(inputs, outputs, kernel=3, dilation=1):
    return nn.Sequential(nn.Conv2d(inputs, outputs, kernel, padding=dilation * (kernel // 2),
                                   dilation=dilation), nn.ReLU(inplace=True))


def _local_norm(x, size=5):
    mean = F.avg_pool2d(x, size, 1, size // 2, count_include_pad=False)
    square = F.avg_pool2d(x * x, size, 1, size // 2, count_include_pad=False)
    return (x - mean) / torch.sqrt((square - mean * mean).clamp_min(0.0) + 1e-3)


def _cost_volume(frames, r, box, rows=None):
    """The correlation of locally normalised frames (B, 2, h, w) at every displacement up to
    ``r`` (vertically up to ``rows``, by default ``r``; 0 searches along the rows only),
    averaged over 3 x 3 by ``box``, and its image-wide mean scaled to a peak of 1."""
    a, b = _local_norm(frames[:, :1]), _local_norm(frames[:, 1:])
    h, w = a.shape[-2:]
    rows = r if rows is None else rows
    padded = F.pad(b, (r, r, rows, rows))
    # Channel (2r + 1) i + j holds b displaced by (i - rows, j - r), times a.
    volume = torch.cat([padded[:, :, i:i + h, j:j + w] for i in range(2 * rows + 1)
                        for j in range(2 * r + 1)], 1) * a
    # Channels-last memory makes this depthwise average several times faster on CPUs.
    volume = F.conv2d(volume.contiguous(memory_format=torch.channels_last), box, padding=1,
                      groups=box.shape[0])
    scene = volume.mean((2, 3), keepdim=True)
    return volume, scene / (scene.abs().amax(1, keepdim=True) + 1e-6)


class DepthNet(nn.Module):
    """Two frames (B, 2, H, W) in [0, 1], H and W even, to disparity (B, 1, H, W) in pixels."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        channels = config.displacements
        # A fixed kernel: the 3 x 3 average of each correlation channel.
        self.register_buffer("box", torch.full((channels, 1, 3, 3), 1.0 / 9.0),
                             persistent=False)
        # The first layer sees the cost volume, its image-wide mean and frame 0; the mean is
        # the same at every pixel, so its contribution is computed once per image.
        self.volume_in = nn.Conv2d(channels, config.hidden, 1)
        self.scene_in = nn.Conv2d(channels, config.hidden, 1, bias=False)
        self.frame_in = nn.Conv2d(1, config.hidden, 1, bias=False)
        if config.coarse_radius:
            coarse = (2 * config.coarse_radius + 1) ** 2
            self.register_buffer("coarse_box", torch.full((coarse, 1, 3, 3), 1.0 / 9.0),
                                 persistent=False)
            self.coarse_in = nn.Conv2d(coarse, config.hidden, 1, bias=False)
            self.coarse_scene_in = nn.Conv2d(coarse, config.hidden, 1, bias=False)
        self.pixel = _conv(config.hidden, 32, 1)
        self.context = nn.Sequential(_conv(32, config.context),
                                     _conv(config.context, config.context, dilation=2),
                                     _conv(config.context, config.context, dilation=4))
        self.out = nn.Conv2d(config.context, 1, 3, padding=1)

    def front(self, frames):
        """The fixed front end at half resolution: the cost volume (B, D, H/2, W/2) of the D =
        `ModelConfig.displacements` searched, its image-wide mean (B, D, 1, 1) scaled to a
        peak of 1, and frame 0 (B, 1, H/2, W/2);
        with ``coarse_radius``, then the quarter-resolution volume and its mean likewise.

        It has no parameters, so training never differentiates through it; gradients reach
        the frames only when they are asked for (input saliency, `depthlab.explain`)."""
        half = F.avg_pool2d(frames, 2)
        volume, scene = _cost_volume(half, self.config.radius, self.box,
                                     0 if self.config.search == "epipolar" else None)
        if not self.config.coarse_radius:
            return volume, scene, half[:, :1]
        coarse, coarse_scene = _cost_volume(F.avg_pool2d(half, 2), self.config.coarse_radius,
                                            self.coarse_box)
        return volume, scene, half[:, :1], coarse, coarse_scene

    def forward(self, frames):
        return self.head(*self.front(frames))

    def head(self, volume, scene, frame, coarse=None, coarse_scene=None):
        """The trained layers, from the front end's outputs to disparity (B, 1, H, W)."""
        hidden = self.volume_in(volume) + self.scene_in(scene) + self.frame_in(frame)
        if coarse is not None:  # the first layer is linear: apply it at quarter resolution
            hidden = hidden + F.interpolate(self.coarse_in(coarse) + self.coarse_scene_in(
                coarse_scene), size=hidden.shape[-2:], mode="bilinear", align_corners=False)
        disparity = 2.0 * F.softplus(self.out(self.context(self.pixel(F.relu(hidden)))))
        return F.interpolate(disparity, scale_factor=2, mode="bilinear", align_corners=False)


@dataclasses.dataclass
class DepthModel:
    """A `DepthNet` with the configurations it was built and trained with.

    Attributes
    ----------
    net : DepthNet
    model_config : ModelConfig
    train_config : TrainConfig or None
        None until trained.
    n_scenes : int
        Training items (0 when untrained).
    world_config : world.WorldConfig
        The world the training scenes came from.
    data_config : DataConfig
        How the training items were made from the scenes.
    losses : (steps,) float array
        Training loss at every step run: the mean absolute log-disparity error after
        removing each crop's mean (0.1 is about a 10% error in relative depth).
    checks : (K, 2) float array
        With early stopping, the step and the validation loss of every check; else empty.
    best_step : int
        The step whose weights were kept (the last one without early stopping).
    seconds : float
        Wall time of the training loop.
    """

    net: DepthNet
    model_config: ModelConfig
    train_config: TrainConfig | None = None
    n_scenes: int = 0
    world_config: world.WorldConfig = world.WorldConfig()
    losses: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    data_config: DataConfig = DataConfig()
    checks: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    best_step: int = 0
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """Optimisation steps run (fewer than the budget when training stopped early)."""
        return len(self.losses)

    @property
    def trained(self) -> bool:
        return self.train_config is not None

    @property
    def parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.net.parameters())


def untrained(model_config: ModelConfig = ModelConfig(), seed: int = 0) -> DepthModel:
    """A freshly initialised model (seeded); `predict` refuses it until it is trained.

    Parameters
    ----------
    model_config : ModelConfig
        The architecture.
    seed : int
        Seed of torch's random initial weights, from 0 to 2**32 - 1.

    Returns
    -------
    DepthModel
        With initial weights and no training configuration.
    """
    if not isinstance(model_config, ModelConfig):
        raise TypeError(f"model_config must be a ModelConfig, got {type(model_config).__name__}")
    torch.manual_seed(_checks.integer("seed", seed, 0, 2**32 - 1))
    return DepthModel(DepthNet(model_config), model_config)


class SceneDataset(torch.utils.data.Dataset):
    """A training set of ``n_scenes`` items as (frames, disparity) tensors.

    With the default `DataConfig`, item ``i`` is scene ``i`` of the training stream, the same
    at every ``n_scenes``, so a larger set contains the smaller ones. Items are ``frames``
    (2, H, W) float32 in [0, 1] and ``disparity`` (1, H, W) in pixels.
    """

    def __init__(self, n_scenes: int, config: world.WorldConfig = world.WorldConfig(),
                 data: DataConfig = DataConfig()):
        self.n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
        if not isinstance(data, DataConfig):
            raise TypeError(f"data must be a DataConfig, got {type(data).__name__}")
        unique = self.n_scenes if data.unique is None else data.unique
        if unique > self.n_scenes:
            raise ValueError(f"data.unique must be at most n_scenes ({self.n_scenes}), "
                             f"got {unique}")
        self.data, self.noise = data, config.noise
        self.frames, self.disparity = _rendered(data.stream, unique, config)
        item = np.arange(self.n_scenes)
        self.scene, self.repeat = item % unique, item // unique
        # The label of each item: its own scene's, or for a label_noise share another's.
        rng = np.random.default_rng(data.stream)
        self.label = self.scene.copy()
        wrong = rng.permutation(self.n_scenes)[:int(round(data.label_noise * self.n_scenes))]
        if unique > 1:
            self.label[wrong] = (self.scene[wrong] + rng.integers(1, unique, len(wrong))) % unique

    @classmethod
    def of(cls, *batches: world.Scene) -> "SceneDataset":
        """A training set of exactly the scenes of one or more batches (from
        `world.render_scenes`, possibly of different worlds of one image size), one item each."""
        if not batches or not all(isinstance(b, world.Scene) and b.frame0.ndim == 3
                                  for b in batches):
            raise TypeError("batches must be batches of scenes from world.render_scenes")
        if len({b.frame0.shape[1:] for b in batches}) > 1:
            raise ValueError("batches must share one image size")
        frames = np.concatenate([np.stack([b.frame0, b.frame1], 1) for b in batches])
        disparity = np.concatenate([b.disparity for b in batches])[:, None]
        dataset = cls.__new__(cls)
        dataset.n_scenes, dataset.data, dataset.noise = len(frames), DataConfig(), 0.0
        dataset.frames = torch.from_numpy(frames.astype(np.float32))
        dataset.disparity = torch.from_numpy(disparity.astype(np.float32))
        dataset.scene = dataset.label = np.arange(len(frames))
        dataset.repeat = np.zeros(len(frames), int)
        return dataset

    def __len__(self):
        return self.n_scenes

    def __getitem__(self, i):
        frames, disparity = self.items(torch.tensor([_checks.integer("i", i, 0,
                                                                     self.n_scenes - 1)]))
        return frames[0], disparity[0]

    def items(self, index: torch.Tensor):
        """Frames (B, 2, H, W) and disparity (B, 1, H, W) of the items at ``index``."""
        index = index.numpy()
        frames = self.frames[self.scene[index]]
        if self.data.monocular:
            frames = frames[:, :1].expand(-1, 2, -1, -1)
        disparity = self.disparity[self.label[index]]
        if not self.data.augment:
            return frames, disparity
        repeat = torch.from_numpy(self.repeat[index])
        for bit, axis in ((1, 3), (2, 2)):
            flip = (repeat & bit).bool()
            frames = torch.where(flip[:, None, None, None], frames.flip(axis), frames)
            disparity = torch.where(flip[:, None, None, None], disparity.flip(axis), disparity)
        noisy = [k for k in range(len(index)) if self.repeat[index[k]] >= 4]
        if noisy:
            frames = frames.clone()
            for k in noisy:  # the same noise every time an item is drawn
                generator = torch.Generator().manual_seed(int(index[k]))
                frames[k] += self.noise * torch.randn(frames[k].shape, generator=generator)
            frames.clamp_(0.0, 1.0)
        return frames, disparity


_RENDERED = {}


def _rendered(seed, n_scenes, config):
    """Frames and disparity of scenes ``0 .. n_scenes - 1``, rendered 256 at a time so that
    only the tensors kept, not every field of every scene, are ever in memory at once.

    The scenes of the last (seed, config) asked for are kept and grown on demand, so a sweep
    over training-set sizes renders each scene once.
    """
    key = (seed, config)
    frames, disparity = _RENDERED.get(key, (torch.empty((0, 2, config.height, config.width)),
                                            torch.empty((0, 1, config.height, config.width))))
    if len(frames) < n_scenes:
        done = len(frames)
        _RENDERED.clear()  # one world at a time: the memory budget is 1.5 GB
        # Filled in place: the old and the new tensors are never concatenated into a third.
        grown = torch.empty((n_scenes, 2, config.height, config.width))
        grown_disparity = torch.empty((n_scenes, 1, config.height, config.width))
        grown[:done], grown_disparity[:done] = frames, disparity
        frames, disparity = grown, grown_disparity
        for start in range(done, n_scenes, 256):
            stop = min(n_scenes, start + 256)
            scenes = world.render_scenes(seed, range(start, stop), config)
            frames[start:stop, 0] = torch.from_numpy(scenes.frame0)
            frames[start:stop, 1] = torch.from_numpy(scenes.frame1)
            disparity[start:stop, 0] = torch.from_numpy(scenes.disparity)
        _RENDERED[key] = frames, disparity
    return frames[:n_scenes], disparity[:n_scenes]


def scale_invariant_loss(disparity: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute log-disparity error after removing each sample's mean log error.

    Multiplying a sample's prediction by any factor leaves the loss unchanged, as it leaves
    the median-scaled metrics unchanged.

    Parameters
    ----------
    disparity : (N, 1, H, W) tensor
        Predicted relative disparity; values below 1e-3 count as 1e-3.
    target : (N, 1, H, W) tensor
        True disparity, positive.

    Returns
    -------
    scalar tensor
        The loss, averaged over samples and pixels.
    """
    error = torch.log(disparity.clamp_min(1e-3)) - torch.log(target)
    return (error - error.mean(dim=(1, 2, 3), keepdim=True)).abs().mean()


def train(n_scenes: int, *, config: TrainConfig = TrainConfig(),
          model_config: ModelConfig = ModelConfig(),
          world_config: world.WorldConfig = world.WorldConfig(),
          progress: bool = True, data: DataConfig = DataConfig(),
          validation: world.Scene | None = None) -> DepthModel:
    """Trains a `DepthNet` on a training set of ``n_scenes`` items, by default the first
    ``n_scenes`` training scenes.

    Without early stopping the budget is ``config.steps`` steps whatever ``n_scenes`` is:
    with few scenes the model sees each one many times. Two runs with the same arguments on the same machine give
    bit-identical weights (seeded generators, deterministic algorithms, fixed threads).

    Parameters
    ----------
    n_scenes : int
        Training scenes, >= 1.
    config : TrainConfig
    model_config : ModelConfig
    world_config : world.WorldConfig
    progress : bool
        Show a progress bar with the running loss.
    data : DataConfig
        How the items are made from scenes: repeated, augmented, with wrong labels.
    validation : world.Scene, optional
        Validation scenes for early stopping (see `fit`).

    Returns
    -------
    DepthModel
    """
    if not isinstance(world_config, world.WorldConfig):
        raise TypeError(f"world_config must be a WorldConfig, got {type(world_config).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    dataset = SceneDataset(n_scenes, world_config, data=data)
    model = fit(untrained(model_config, config.seed), dataset, config=config, progress=progress, validation=validation)
    return dataclasses.replace(model, world_config=world_config, data_config=data)


@contextlib.contextmanager
def reproducible(threads: int):
    """Runs the body on ``threads`` torch threads with deterministic algorithms only, as every
    training loop of the book does, and restores both settings afterwards.

    Parameters
    ----------
    threads : int
        The number of torch threads inside the ``with`` block.

    Yields
    ------
    None
    """
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def fit(model: DepthModel, dataset: SceneDataset, *, config: TrainConfig = TrainConfig(),
        progress: bool = True, validation: world.Scene | None = None) -> DepthModel:
    """Trains a copy of ``model`` on ``dataset`` as ``config`` says.

    `train` calls it on a fresh model; given a trained one, it fine-tunes (``model`` itself
    is left unchanged). Random crops, flips, minibatches and the schedule are seeded by
    ``config.seed``.

    Parameters
    ----------
    model : DepthModel
    dataset : SceneDataset
    config : TrainConfig
    progress : bool
        Show a progress bar with the running loss.
    validation : world.Scene, optional
        A batch of validation scenes (never test scenes), required with
        ``config.patience``: early stopping measures the scale-invariant loss on them.

    Returns
    -------
    DepthModel
        The trained copy, with ``n_scenes = len(dataset)``.
    """
    if not isinstance(model, DepthModel):
        raise TypeError(f"model must be a DepthModel, got {type(model).__name__}")
    if not isinstance(dataset, SceneDataset):
        raise TypeError(f"dataset must be a SceneDataset, got {type(dataset).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    h, w = dataset.frames.shape[-2:]
    if config.crop is not None and (config.crop[0] > h or config.crop[1] > w):
        raise ValueError(f"crop {config.crop} is larger than the scenes ({h}, {w})")
    if (config.patience is None) != (validation is None):
        raise ValueError("early stopping needs both config.patience and validation scenes; "
                         f"got patience={config.patience!r} and "
                         f"validation={type(validation).__name__}")
    if validation is not None:
        if not isinstance(validation, world.Scene) or validation.frame0.ndim != 3:
            raise TypeError("validation must be a batch of scenes from world.render_scenes")
        held = torch.from_numpy(np.stack([validation.frame0, validation.frame0
                                          if dataset.data.monocular else validation.frame1], 1))
        held_target = torch.from_numpy(validation.disparity[:, None])
    model = dataclasses.replace(model, net=copy.deepcopy(model.net))
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(model.net.parameters(), lr=config.lr)
    if config.patience is None:
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr,
                                                       total_steps=config.steps, pct_start=0.15)
    else:  # a linear warm-up over the first check, then halved on every check that fails
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: min(1.0, (step + 1) / config.check_every))
    losses, checks = np.zeros(config.steps), []
    best, failed = (np.inf, config.steps - 1, None), 0  # validation loss, step, weights
    (ch, cw) = config.crop if config.crop is not None else (h, w)
    start_time = time.perf_counter()
    with reproducible(config.threads):
        model.net.train()
        bar = tqdm(range(config.steps), desc=f"training on {len(dataset)} scenes",
                   disable=not progress, mininterval=0.5)
        for step in bar:
            index = torch.randint(0, len(dataset), (config.batch,), generator=generator)
            top = 2 * int(torch.randint(0, (h - ch) // 2 + 1, (1,), generator=generator))
            left = 2 * int(torch.randint(0, (w - cw) // 2 + 1, (1,), generator=generator))
            frames, target = dataset.items(index)
            frames = frames[:, :, top:top + ch, left:left + cw]
            target = target[:, :, top:top + ch, left:left + cw]
            if config.flips:
                frames, target = _flip(frames, target, generator)
            loss = scale_invariant_loss(model.net(frames), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses[step] = loss.item()
            if step % 25 == 0:
                bar.set_postfix(loss=f"{losses[max(0, step - 24):step + 1].mean():.3f}")
            if config.patience is not None and (step + 1) % config.check_every == 0:
                model.net.eval()
                with torch.no_grad():
                    held_loss = float(np.mean([scale_invariant_loss(
                        model.net(held[i:i + 50]), held_target[i:i + 50]).item()
                        for i in range(0, len(held), 50)]))
                model.net.train()
                checks.append((step + 1, held_loss))
                if held_loss < best[0]:
                    best, failed = (held_loss, step, copy.deepcopy(model.net.state_dict())), 0
                else:
                    failed += 1
                    schedule.base_lrs = [lr * 0.5 for lr in schedule.base_lrs]
                    if failed >= config.patience:
                        losses = losses[:step + 1]
                        break
    seconds = time.perf_counter() - start_time
    if best[2] is not None:
        model.net.load_state_dict(best[2])
    model.net.eval()
    return dataclasses.replace(model, train_config=config, n_scenes=len(dataset),
                               losses=losses, checks=np.array(checks).reshape(-1, 2),
                               best_step=best[1] + 1, seconds=seconds)


def _flip(frames, target, generator):
    """Flips each item left to right and upside down with probability 1/2 each."""
    bits = torch.randint(0, 4, (len(frames),), generator=generator)
    for bit, axis in ((1, 3), (2, 2)):
        flip = (bits & bit).bool()[:, None, None, None]
        frames = torch.where(flip, frames.flip(axis), frames)
        target = torch.where(flip, target.flip(axis), target)
    return frames, target


def _check_model(model):
    if not isinstance(model, DepthModel):
        raise TypeError(f"model must be a DepthModel, got {type(model).__name__}")
    if not model.trained:
        raise ValueError("the model is untrained: train it with learned.train or load "
                         "trained weights with learned.load")


def predict_batch(model: DepthModel, frames0: np.ndarray, frames1: np.ndarray,
                  *, batch: int = 100) -> np.ndarray:
    """Relative depth of many frame pairs in batched inference calls.

    Parameters
    ----------
    model : DepthModel
        A trained model.
    frames0, frames1 : (N, H, W) arrays
        N >= 1 grey frame pairs, uint8 or float in [0, 1]. A monocular model (`DataConfig.monocular`) is given ``frames0`` twice.
    batch : int
        Pairs per inference call.

    Returns
    -------
    (N, H, W) float32 array
        ``1 / disparity``: depth up to scale, like `classical.estimate_depth`.
    """
    _check_model(model)
    for name, value in (("frames0", frames0), ("frames1", frames1)):
        if not isinstance(value, np.ndarray) or value.ndim != 3:
            raise ValueError(f"{name} must be an (N, H, W) array")
    if frames0.shape != frames1.shape:
        raise ValueError(f"frames0 and frames1 must have the same shape, got {frames0.shape} "
                         f"and {frames1.shape}")
    if len(frames0) == 0:
        raise ValueError("frames0 and frames1 must hold at least one pair, got none")
    pairs = [_checks.frame_pair(a, b) for a, b in zip(frames0, frames1)]
    n, h, w = frames0.shape
    pad = (0, w % 2, 0, h % 2)  # the network halves the resolution: pad to even sides
    # the control (monocular) sees frame 0 twice, as in training
    second = 0 if model.data_config.monocular else 1
    stacked = torch.from_numpy(np.stack([[p[0], p[second]] for p in pairs]))
    stacked = F.pad(stacked, pad, mode="replicate")
    with torch.no_grad():
        disparity = torch.cat([model.net(stacked[i:i + batch])
                               for i in range(0, n, batch)])[:, 0, :h, :w]
    return (1.0 / disparity.clamp_min(1e-3)).numpy()


def predict(model: DepthModel, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """Relative depth of frame 0 from two frames: one inference call.

    Parameters
    ----------
    model : DepthModel
        A trained model.
    frame0, frame1 : (H, W) arrays
        Grey frames of the same shape, uint8 or float in [0, 1].

    Returns
    -------
    (H, W) float32 array
        Depth up to scale, like `classical.estimate_depth`.
    """
    _check_model(model)
    a, b = _checks.frame_pair(frame0, frame1)
    return predict_batch(model, a[None], b[None])[0]


def evaluate(model: DepthModel, scenes: world.Scene) -> list:
    """Scores the model on a batch of scenes; one `metrics.DepthMetrics` per scene.

    Parameters
    ----------
    model : DepthModel
        A trained model.
    scenes : world.Scene
        A batch of scenes, as `world.render_scenes` makes them.

    Returns
    -------
    list of metrics.DepthMetrics
        The scores of the model's depth against the true depth, one per scene, in order.
    """
    if not isinstance(scenes, world.Scene) or scenes.frame0.ndim != 3:
        raise TypeError("scenes must be a batch of scenes from world.render_scenes")
    depth = predict_batch(model, scenes.frame0, scenes.frame1)
    return [metrics.depth_metrics(depth[i], scenes.depth[i]) for i in range(len(depth))]


def save(model: DepthModel, path) -> pathlib.Path:
    """Saves a trained model's weights, configurations and losses to ``path``.

    Parameters
    ----------
    model : DepthModel
        A trained model.
    path : path-like
        The file to write (a PyTorch checkpoint); an existing file is replaced.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    _check_model(model)
    path = pathlib.Path(path)
    torch.save({"state": model.net.state_dict(),
                "model_config": dataclasses.asdict(model.model_config),
                "train_config": dataclasses.asdict(model.train_config),
                "world_config": dataclasses.asdict(model.world_config),
                "data_config": dataclasses.asdict(model.data_config),
                "n_scenes": model.n_scenes, "losses": model.losses.tolist(),
                "checks": model.checks.tolist(), "best_step": model.best_step,
                "seconds": model.seconds}, path)
    return path


def read_checkpoint(path, build, kind: str, writer: str):
    """Reads a file that ``writer`` (a ``save`` function, such as this module's) wrote and
    returns ``build(saved, fields)``: ``saved`` is the stored dictionary and ``fields(name)``
    one of its configurations, with the lists that stand for tuples turned back into tuples.
    Raises FileNotFoundError for a missing file and ValueError for any other file.

    Parameters
    ----------
    path : path-like
        The saved file.
    build : callable
        Called as ``build(saved, fields)``; it makes the object from the stored dictionary.
    kind : str
        What the file holds, such as ``"model"``, for the error messages.
    writer : str
        The name of the ``save`` function that writes such files, for the error messages.

    Returns
    -------
    object
        What ``build`` returns.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved {kind} at {path}")
    try:
        saved = torch.load(path, weights_only=True)

        def fields(name):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in saved[name].items()}

        return build(saved, fields)
    except (KeyError, TypeError, ValueError, RuntimeError, EOFError,
            pickle.UnpicklingError) as error:
        raise ValueError(f"{path} is not a {kind} saved by {writer}: {error}")


def load(path) -> DepthModel:
    """Loads a model written by `save`.

    Parameters
    ----------
    path : path-like
        A file written by `save`.

    Returns
    -------
    DepthModel
        In evaluation mode, with the saved configurations, losses and training time.
    """
    def build(saved, fields):
        model_config = ModelConfig(**fields("model_config"))
        net = DepthNet(model_config)
        net.load_state_dict(saved["state"])
        net.eval()
        return DepthModel(net, model_config, TrainConfig(**fields("train_config")),
                          saved["n_scenes"], world.WorldConfig(**fields("world_config")),
                          np.asarray(saved["losses"]), DataConfig(**fields("data_config")),
                          np.asarray(saved["checks"]).reshape(-1, 2), saved["best_step"],
                          saved["seconds"])

    return read_checkpoint(path, build, "model", "depthlab.learned.save")
