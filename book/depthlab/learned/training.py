"""Training the network: the items it learns from (`SceneDataset`), its scale-invariant loss,
and the training loop (`train` on fresh scenes, `fit` on given ones), with early stopping on
validation scenes."""
from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _checks, torchutils, world
from .config import DataConfig, ModelConfig, TrainConfig
from .net import DepthModel, untrained

__all__ = ["SceneDataset", "fit", "scale_invariant_loss", "train"]


class SceneDataset(torch.utils.data.Dataset):
    """A training set of ``n_scenes`` items as (frames, disparity) tensors.

    With the default `DataConfig`, item ``i`` is scene ``i`` of the training stream, the same
    at every ``n_scenes``, so a larger set contains the smaller ones. Items are ``frames``
    (2, H, W) float32 in [0, 1] and ``disparity`` (1, H, W) in pixels.
    """

    def __init__(self, n_scenes: int, config: world.WorldConfig = world.WorldConfig(),
                 data: DataConfig = DataConfig()):
        self.n_scenes = _checks.integer("n_scenes", n_scenes, 1, 10**6)
        _checks.instance("data", data, DataConfig)
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
    with few scenes the model sees each one many times. Two runs with the same arguments on the
    same machine give bit-identical weights (seeded generators, deterministic algorithms, fixed
    threads).

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
    _checks.instance("world_config", world_config, world.WorldConfig)
    _checks.instance("config", config, TrainConfig)
    dataset = SceneDataset(n_scenes, world_config, data=data)
    model = fit(untrained(model_config, config.seed), dataset, config=config, progress=progress,
                validation=validation)
    return dataclasses.replace(model, world_config=world_config, data_config=data)


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
    _checks.instance("model", model, DepthModel)
    _checks.instance("dataset", dataset, SceneDataset)
    _checks.instance("config", config, TrainConfig)
    h, w = dataset.frames.shape[-2:]
    if config.crop is not None and (config.crop[0] > h or config.crop[1] > w):
        raise ValueError(f"crop {config.crop} is larger than the scenes ({h}, {w})")
    if (config.patience is None) != (validation is None):
        raise ValueError("early stopping needs both config.patience and validation scenes; "
                         f"got patience={config.patience!r} and "
                         f"validation={type(validation).__name__}")
    if validation is not None:
        _checks.scenes("validation", validation)
        held = (torch.from_numpy(np.stack([validation.frame0, validation.frame0
                                           if dataset.data.monocular else validation.frame1], 1)),
                torch.from_numpy(validation.disparity[:, None]))
    model = dataclasses.replace(model, net=copy.deepcopy(model.net))
    generator = torch.Generator().manual_seed(config.seed)
    optimiser = torch.optim.Adam(model.net.parameters(), lr=config.lr)
    schedule = _schedule(optimiser, config)
    losses, checks = np.zeros(config.steps), []
    best, failed = (np.inf, config.steps - 1, None), 0  # validation loss, step, weights
    start_time = time.perf_counter()
    with torchutils.reproducible(config.threads):
        model.net.train()
        bar = tqdm(range(config.steps), desc=f"training on {len(dataset)} scenes",
                   disable=not progress, mininterval=0.5)
        for step in bar:
            frames, target = _minibatch(dataset, config, generator)
            loss = scale_invariant_loss(model.net(frames), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses[step] = loss.item()
            if step % 25 == 0:
                bar.set_postfix(loss=f"{losses[max(0, step - 24):step + 1].mean():.3f}")
            if config.patience is not None and (step + 1) % config.check_every == 0:
                held_loss = _held_out_loss(model.net, *held)
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


def _schedule(optimiser, config):
    """The learning rate's schedule: one cycle over a fixed budget of steps; with early
    stopping, a linear warm-up over the first check (`fit` halves it on every check that
    fails)."""
    if config.patience is None:
        return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.15)
    return torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, (step + 1) / config.check_every))


def _minibatch(dataset, config, generator):
    """One training minibatch: ``config.batch`` items drawn with replacement, one random crop
    for all of them (at even offsets), and random flips if ``config.flips``."""
    h, w = dataset.frames.shape[-2:]
    ch, cw = config.crop if config.crop is not None else (h, w)
    index = torch.randint(0, len(dataset), (config.batch,), generator=generator)
    top = 2 * int(torch.randint(0, (h - ch) // 2 + 1, (1,), generator=generator))
    left = 2 * int(torch.randint(0, (w - cw) // 2 + 1, (1,), generator=generator))
    frames, target = dataset.items(index)
    frames = frames[:, :, top:top + ch, left:left + cw]
    target = target[:, :, top:top + ch, left:left + cw]
    if config.flips:
        frames, target = _flip(frames, target, generator)
    return frames, target


def _held_out_loss(net, frames, target):
    """The scale-invariant loss on the validation scenes, in batches of 50, in evaluation
    mode (the network is back in training mode afterwards)."""
    net.eval()
    with torch.no_grad():
        loss = float(np.mean([scale_invariant_loss(net(frames[i:i + 50]), target[i:i + 50])
                              .item() for i in range(0, len(frames), 50)]))
    net.train()
    return loss


def _flip(frames, target, generator):
    """Flips each item left to right and upside down with probability 1/2 each."""
    bits = torch.randint(0, 4, (len(frames),), generator=generator)
    for bit, axis in ((1, 3), (2, 2)):
        flip = (bits & bit).bool()[:, None, None, None]
        frames = torch.where(flip, frames.flip(axis), frames)
        target = torch.where(flip, target.flip(axis), target)
    return frames, target
