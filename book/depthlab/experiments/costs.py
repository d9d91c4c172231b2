"""What data costs: an explicit price list for labelled scenes and for hand engineering."""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import _checks

__all__ = ["CostModel"]


@dataclasses.dataclass(frozen=True)
class CostModel:
    """An explicit price list for depth from two frames (in any currency; the defaults are
    illustrations, not measurements).

    Parameters
    ----------
    collect : float
        Cost of capturing one scene (two frames).
    label : float
        Cost of one scene's dense depth label.
    engineering : float
        One-off cost of writing and tuning the classical pipeline, which needs no labels.
    """

    collect: float = 0.5
    label: float = 4.0
    engineering: float = 5000.0

    def __post_init__(self):
        for name in ("collect", "label", "engineering"):
            _checks.number(name, getattr(self, name), 0.0)
        if self.per_scene <= 0:
            raise ValueError("collect + label must be above 0: a labelled scene is not free")

    @property
    def per_scene(self) -> float:
        """Cost of one labelled training scene."""
        return self.collect + self.label

    def learned_cost(self, n_scenes):
        """Cost of ``n_scenes`` labelled scenes (copies and augmentations cost nothing)."""
        return np.asarray(n_scenes, float) * self.per_scene

    def scenes(self, budget):
        """Labelled scenes a budget buys."""
        return np.asarray(budget, float) / self.per_scene
