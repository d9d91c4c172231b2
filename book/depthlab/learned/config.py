"""The learned model's settings: its architecture (`ModelConfig`), its training recipe
(`TrainConfig`) and how its training items are made (`DataConfig`)."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import _checks, world

__all__ = ["DataConfig", "ModelConfig", "TrainConfig"]


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
        _checks.instance("config", config, world.WorldConfig)
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
        The world's stream (seed) the scenes come from; `world.TRAIN_SEED` by default. Training
        seeds of a study draw their own scenes from streams of their own.
    monocular : bool
        The control that cannot match: both inputs are frame 0, in training and (through
        the model's `DataConfig`) in `predict_batch`, so the model learns only the priors.
    """

    unique: int | None = None
    augment: bool = False
    label_noise: float = 0.0
    stream: int = world.TRAIN_SEED
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
