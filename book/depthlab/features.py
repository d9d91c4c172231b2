"""The middle road: a learned descriptor inside the classical pipeline.

SIFT's keypoints stay; only the descriptor, the vector that says what a keypoint looks like,
is learned from data. The pipeline's geometry is unchanged: `classical.match` with the ratio
test, epipolar RANSAC, sparse flow and densification take the learned descriptors through
their ``descriptor`` argument.

1. `patches`: a square patch of the frame around each keypoint, sampled bilinearly.
2. `DescriptorNet`: a small CNN from a patch (normalised to zero mean and unit variance) to a
   unit-length vector.
3. `train`: metric learning on correspondences that the world's ground-truth flow gives for
   free. For each SIFT keypoint of a training frame 0, the patch at the true position in
   frame 1 is its positive; every other keypoint of the same minibatch is a negative, and
   the loss pushes the nearest of them (the hardest negative) at least a margin further away
   than the positive (the HardNet triplet loss, Mishchuk et al., 2017). A minibatch holds all
   keypoints of a few scenes, so the hard negatives are keypoints of the same frame, the ones
   the matcher must tell apart.
4. `LearnedDescriptor`: the trained network as a callable ``(image, points) -> (N, D)``, the
   form `classical.detect` takes.
5. `matching_quality`: precision and recall of the ratio-test matches against the
   ground-truth flow.
"""
from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import _checks, classical, metrics, torchutils, world

__all__ = ["DescriptorConfig", "DescriptorNet", "DescriptorTrainConfig", "LearnedDescriptor",
           "MatchingQuality", "load", "matching_quality", "patches", "save", "train",
           "triplet_loss", "untrained"]


@dataclasses.dataclass(frozen=True)
class DescriptorConfig:
    """Architecture of `DescriptorNet`.

    Parameters
    ----------
    patch : int
        Side of the square patch, in pixels (even, at least 8).
    width : int
        Channels of the first convolution (the others have twice as many).
    dims : int
        Length of the descriptor.
    """

    patch: int = 16
    width: int = 8
    dims: int = 32

    def __post_init__(self):
        _checks.integer("patch", self.patch, 8, 64)
        if self.patch % 4:
            raise ValueError(f"patch must be a multiple of 4, got {self.patch}")
        _checks.integer("width", self.width, 1, 256)
        _checks.integer("dims", self.dims, 2, 1024)


@dataclasses.dataclass(frozen=True)
class DescriptorTrainConfig:
    """The descriptor's training recipe: a fixed budget of steps, whatever the number of scenes.

    Parameters
    ----------
    steps : int
        Optimisation steps (Adam with a one-cycle learning-rate schedule).
    scenes_per_step : int
        Training scenes whose keypoints make one minibatch.
    margin : float
        The triplet margin between the positive's and the hardest negative's distance.
    lr : float
        Peak learning rate.
    jitter : float
        Largest random shift of the positive patch, in pixels: frame 1's keypoints are
        detected, not placed at the true position.
    seed : int
        Seeds the initial weights, the minibatches and the jitter.
    threads : int
        torch threads while training.
    """

    steps: int = 150
    scenes_per_step: int = 4
    margin: float = 1.0
    lr: float = 3e-3
    jitter: float = 0.5
    seed: int = 0
    threads: int = 1

    def __post_init__(self):
        _checks.integer("steps", self.steps, 1, 10**6)
        _checks.integer("scenes_per_step", self.scenes_per_step, 1, 256)
        _checks.number("margin", self.margin, 0.0, 2.0)
        _checks.number("lr", self.lr, 1e-6, 1.0)
        _checks.number("jitter", self.jitter, 0.0, 4.0)
        _checks.integer("seed", self.seed, 0, 2**32 - 1)
        _checks.integer("threads", self.threads, 1, 256)


class DescriptorNet(nn.Module):
    """Patches (K, 1, P, P) to unit-length descriptors (K, D)."""

    def __init__(self, config: DescriptorConfig = DescriptorConfig()):
        super().__init__()
        w = config.width
        self.layers = nn.Sequential(
            nn.Conv2d(1, w, 5, stride=2, padding=2), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Flatten(), nn.Linear(2 * w * (config.patch // 4) ** 2, config.dims))

    def forward(self, patch):
        mean = patch.mean((1, 2, 3), keepdim=True)
        std = patch.std((1, 2, 3), keepdim=True)
        return F.normalize(self.layers((patch - mean) / (std + 1e-3)), dim=1)


def patches(image: torch.Tensor, points: torch.Tensor, size: int) -> torch.Tensor:
    """Square ``size`` x ``size`` patches centred on ``points``, sampled bilinearly at one-pixel
    spacing (the border is repeated outside the image).

    Parameters
    ----------
    image : (H, W) float tensor
    points : (K, 2) float tensor
        Centres ``(x, y)`` in pixels (pixel centres at integers).
    size : int

    Returns
    -------
    (K, 1, size, size) float tensor
    """
    h, w = image.shape
    offsets = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    x = points[:, 0, None, None] + offsets[None, None, :]
    y = points[:, 1, None, None] + offsets[None, :, None]
    x, y = torch.broadcast_tensors(x, y)
    grid = torch.stack([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], -1)  # (K, size, size, 2)
    sampled = F.grid_sample(image[None, None].expand(1, 1, h, w),
                            grid.reshape(1, len(points), size * size, 2), mode="bilinear",
                            padding_mode="border", align_corners=True)
    return sampled.reshape(len(points), 1, size, size)


@dataclasses.dataclass
class LearnedDescriptor:
    """A trained `DescriptorNet`, callable as ``descriptor(image, points)`` for
    `classical.detect`.

    Attributes
    ----------
    net : DescriptorNet
    config : DescriptorConfig
    train_config : DescriptorTrainConfig or None
        None for an `untrained` descriptor.
    n_scenes : int
        Training scenes it could draw from (0 when untrained).
    world_config : world.WorldConfig
    losses : (steps,) float array
        The triplet loss at every step (0 when every positive is a margin closer than the
        hardest negative).
    """

    net: DescriptorNet
    config: DescriptorConfig
    train_config: DescriptorTrainConfig | None
    n_scenes: int
    world_config: world.WorldConfig = world.WorldConfig()
    losses: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    def __call__(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Descriptors of the keypoints at ``points``.

        Parameters
        ----------
        image : (H, W) array
            A grey frame, uint8 or float in [0, 1].
        points : (N, 2) array
            Keypoint positions ``(x, y)`` in pixels.

        Returns
        -------
        (N, D) float32 array
            Unit-length descriptors.
        """
        image = _checks.image("image", image)
        if not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"points must be an (N, 2) array, got "
                             f"{getattr(points, 'shape', type(points).__name__)}")
        if not np.isfinite(points).all():
            raise ValueError("points contains NaN or inf")
        if len(points) == 0:
            return np.zeros((0, self.config.dims), np.float32)
        with torch.no_grad():
            found = patches(torch.from_numpy(image), torch.from_numpy(points.astype(np.float32)),
                            self.config.patch)
            return self.net(found).numpy()

    @property
    def parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.net.parameters())


def untrained(config: DescriptorConfig = DescriptorConfig(), seed: int = 0) -> LearnedDescriptor:
    """A descriptor with seeded random weights and no training: what the architecture alone,
    a normalised patch seen through random filters, is worth.

    Parameters
    ----------
    config : DescriptorConfig
        The architecture.
    seed : int
        Seed of PyTorch's random weights, from 0 to 2**32 - 1.

    Returns
    -------
    LearnedDescriptor
        In evaluation mode, with no training configuration and 0 training scenes.
    """
    _checks.instance("config", config, DescriptorConfig)
    torch.manual_seed(_checks.integer("seed", seed, 0, 2**32 - 1))
    net = DescriptorNet(config)
    net.eval()
    return LearnedDescriptor(net, config, None, 0)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, *, margin: float = 1.0,
                 allowed: torch.Tensor | None = None) -> torch.Tensor:
    """The hardest-in-batch triplet loss (HardNet).

    Parameters
    ----------
    anchor, positive : (K, D) tensors
        Descriptors of K corresponding pairs: row i of each shows the same point.
    margin : float
    allowed : (K, K) bool tensor, optional
        Which pairs ``(i, j)``, ``i != j``, may serve as negatives (for example, not two
        keypoints a pixel apart). Default: all.

    Returns
    -------
    scalar tensor
        Mean over i of ``max(0, margin + d(a_i, p_i) - min(d(a_i, p_j), d(a_j, p_i)))``, the
        minimum over the allowed ``j``.
    """
    distance = torch.cdist(anchor, positive)
    mask = ~torch.eye(len(anchor), dtype=torch.bool)
    if allowed is not None:
        mask &= allowed
    far = distance.masked_fill(~mask, float("inf"))
    hardest = torch.minimum(far.min(1).values, far.min(0).values)
    keep = torch.isfinite(hardest)
    return F.relu(margin + distance.diagonal()[keep] - hardest[keep]).mean()


def _correspondences(scenes, contrast_threshold):
    """Per scene: frame-0 SIFT keypoints seen in frame 1, and their true frame-1 positions."""
    pairs = []
    h, w = scenes.frame0.shape[1:]
    for i in range(len(scenes)):
        points, _ = classical.keypoints(scenes.frame0[i], contrast_threshold)
        pixel = np.round(points).astype(int)
        target = points + scenes.flow[i][pixel[:, 1], pixel[:, 0]]
        seen = (scenes.visible[i][pixel[:, 1], pixel[:, 0]]
                & (target[:, 0] >= 0) & (target[:, 0] <= w - 1)
                & (target[:, 1] >= 0) & (target[:, 1] <= h - 1))
        pairs.append((torch.from_numpy(points[seen]), torch.from_numpy(target[seen])))
    return pairs


def train(n_scenes: int, *, config: DescriptorTrainConfig = DescriptorTrainConfig(),
          model_config: DescriptorConfig = DescriptorConfig(),
          world_config: world.WorldConfig = world.WorldConfig(), progress: bool = True,
          contrast_threshold: float = 0.01) -> LearnedDescriptor:
    """Trains a descriptor on the SIFT keypoints of the first ``n_scenes`` training scenes.

    The budget is ``config.steps`` minibatches of ``config.scenes_per_step`` scenes drawn at
    random, whatever ``n_scenes`` is; only the scenes drawn are rendered. Two runs with the
    same arguments on the same machine give bit-identical weights.

    Parameters
    ----------
    n_scenes : int
        Training scenes to draw from, >= 1.
    config : DescriptorTrainConfig
    model_config : DescriptorConfig
    world_config : world.WorldConfig
    progress : bool
        Show a progress bar with the running loss.
    contrast_threshold : float
        SIFT's contrast threshold for the training keypoints (as in the pipeline).

    Returns
    -------
    LearnedDescriptor
    """
    n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
    for name, value, kind in (("config", config, DescriptorTrainConfig),
                              ("model_config", model_config, DescriptorConfig),
                              ("world_config", world_config, world.WorldConfig)):
        if not isinstance(value, kind):
            raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    generator = torch.Generator().manual_seed(config.seed)
    draws = torch.randint(0, n_scenes, (config.steps, config.scenes_per_step),
                          generator=generator)
    drawn = np.unique(draws.numpy())
    scenes = world.render_scenes(world.TRAIN_SEED, drawn, world_config)
    frames = torch.from_numpy(np.stack([scenes.frame0, scenes.frame1], 1))
    pairs = _correspondences(scenes, contrast_threshold)
    row = {int(index): k for k, index in enumerate(drawn)}
    net = untrained(model_config, config.seed).net
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.2)
    losses = np.zeros(config.steps)
    size = model_config.patch
    with torchutils.reproducible(config.threads):
        net.train()
        bar = tqdm(range(config.steps), desc=f"descriptor on {n_scenes} scenes",
                   disable=not progress, mininterval=0.5)
        for step in bar:
            anchors, positives, scene, where = [], [], [], []
            for index in draws[step].tolist():
                k = row[index]
                points, target = pairs[k]
                shift = config.jitter * (2 * torch.rand(target.shape, generator=generator) - 1)
                anchors.append(patches(frames[k, 0], points, size))
                positives.append(patches(frames[k, 1], target + shift, size))
                scene.append(torch.full((len(points),), k))
                where.append(target)
            scene, where = torch.cat(scene), torch.cat(where)
            # Two keypoints of one scene within two pixels show the same thing: no negatives.
            near = (scene[:, None] == scene[None, :]) & (torch.cdist(where, where) < 2.0)
            loss = triplet_loss(net(torch.cat(anchors)), net(torch.cat(positives)),
                                margin=config.margin, allowed=~near)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses[step] = loss.item()
            if step % 25 == 0:
                bar.set_postfix(loss=f"{losses[max(0, step - 24):step + 1].mean():.3f}")
    net.eval()
    return LearnedDescriptor(net, model_config, config, n_scenes, world_config, losses)


@dataclasses.dataclass(frozen=True)
class MatchingQuality:
    """How many of a pipeline's ratio-test matches are right, against the true flow.

    Attributes
    ----------
    matches : int
        Matches that pass the ratio test.
    correct : int
        Of those, matches within the tolerance of the true position.
    matchable : int
        Frame-0 keypoints, seen in frame 1, with a frame-1 keypoint within the tolerance of
        their true position: the most correct matches any descriptor could find.
    """

    matches: int
    correct: int
    matchable: int

    @property
    def precision(self) -> float:
        """Share of the matches that are correct (NaN without matches)."""
        return self.correct / self.matches if self.matches else float("nan")

    @property
    def recall(self) -> float:
        """Share of the matchable keypoints matched correctly (NaN if none is matchable)."""
        return self.correct / self.matchable if self.matchable else float("nan")

    def __add__(self, other):
        return MatchingQuality(self.matches + other.matches, self.correct + other.correct,
                               self.matchable + other.matchable)


def matching_quality(result: classical.PipelineResult, scene: world.Scene,
                     tolerance: float = 1.0) -> MatchingQuality:
    """Scores a pipeline run's ratio-test matches on a scene with ground truth.

    Parameters
    ----------
    result : classical.PipelineResult
        `classical.run_pipeline` on the scene's frames, with any descriptor.
    scene : world.Scene
        One scene (not a batch).
    tolerance : float
        Largest distance in pixels from the true position (> 0).

    Returns
    -------
    MatchingQuality
        Sum them (``+``) to pool several scenes.
    """
    if not isinstance(result, classical.PipelineResult):
        raise TypeError(f"result must be a classical.PipelineResult, got "
                        f"{type(result).__name__}")
    if not isinstance(scene, world.Scene) or scene.frame0.ndim != 2:
        raise TypeError("scene must be one world.Scene (index a batch)")
    tolerance = _checks.number("tolerance", tolerance, 1e-6, np.inf)
    p0, p1 = result.features0.points, result.features1.points
    if p0.size and (p0.max(0) > np.array(scene.frame0.shape[::-1]) - 1).any():
        raise ValueError("result does not fit the scene: keypoints lie outside its frames")
    m = result.matches
    correct = metrics.correct_matches(p0[m.index0], p1[m.index1], scene.flow, tolerance=tolerance)
    pixel = np.round(p0).astype(int)
    seen = scene.visible[pixel[:, 1], pixel[:, 0]]
    matchable = 0
    if len(p0) and len(p1):
        true = p0 + scene.flow[pixel[:, 1], pixel[:, 0]]
        gap = np.linalg.norm(true[:, None] - p1[None], axis=2).min(1)
        matchable = int((seen & (gap <= tolerance)).sum())
    return MatchingQuality(len(m), int(correct.sum()), matchable)


def save(descriptor: LearnedDescriptor, path) -> pathlib.Path:
    """Saves a trained descriptor's weights, configurations and losses to ``path``.

    Parameters
    ----------
    descriptor : LearnedDescriptor
        A trained or `untrained` descriptor.
    path : path-like
        The file to write (a PyTorch checkpoint); an existing file is replaced.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(descriptor, LearnedDescriptor):
        raise TypeError(f"descriptor must be a LearnedDescriptor, got "
                        f"{type(descriptor).__name__}")
    path = pathlib.Path(path)
    torch.save({"state": descriptor.net.state_dict(),
                "config": dataclasses.asdict(descriptor.config),
                "train_config": (None if descriptor.train_config is None
                                 else dataclasses.asdict(descriptor.train_config)),
                "world_config": dataclasses.asdict(descriptor.world_config),
                "n_scenes": descriptor.n_scenes, "losses": descriptor.losses.tolist()}, path)
    return path


def load(path) -> LearnedDescriptor:
    """Loads a descriptor written by `save`.

    Parameters
    ----------
    path : path-like
        A file written by `save`.

    Returns
    -------
    LearnedDescriptor
        In evaluation mode, with the saved configurations and losses.
    """
    def build(saved, fields):
        config = DescriptorConfig(**fields("config"))
        net = DescriptorNet(config)
        net.load_state_dict(saved["state"])
        net.eval()
        train_config = (None if saved["train_config"] is None
                        else DescriptorTrainConfig(**fields("train_config")))
        return LearnedDescriptor(net, config, train_config, saved["n_scenes"],
                                 world.WorldConfig(**fields("world_config")),
                                 np.asarray(saved["losses"]))

    return torchutils.read_checkpoint(path, build, "descriptor", "depthlab.features.save")
