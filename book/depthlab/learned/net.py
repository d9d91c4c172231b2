"""The network (`DepthNet`), a trained model (`DepthModel`), and what a trained model does:
predict, be scored, be saved and loaded."""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import _checks, metrics, torchutils, world
from .config import DataConfig, ModelConfig, TrainConfig

__all__ = ["DepthModel", "DepthNet", "evaluate", "load", "predict", "predict_batch", "save",
           "untrained"]


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
    _checks.instance("model_config", model_config, ModelConfig)
    torch.manual_seed(_checks.integer("seed", seed, 0, 2**32 - 1))
    return DepthModel(DepthNet(model_config), model_config)


def _check_model(model):
    _checks.instance("model", model, DepthModel)
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
        N >= 1 grey frame pairs, uint8 or float in [0, 1]. A monocular model
        (`DataConfig.monocular`) is given ``frames0`` twice.
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
    _checks.scenes("scenes", scenes)
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

    return torchutils.read_checkpoint(path, build, "model", "depthlab.learned.save")
