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

    def learned_cost(self, n_scenes, validation: int = 0):
        """Cost of ``n_scenes`` labelled training scenes (copies and augmentations cost
        nothing) and of the ``validation`` labelled scenes the learned side's choices are made
        on (early stopping, a recipe)."""
        validation = _checks.integer("validation", validation, 0, 10**9)
        return (np.asarray(n_scenes, float) + validation) * self.per_scene

    def classical_cost(self, validation: int = 0) -> float:
        """Cost of the classical method: its engineering, and the ``validation`` labelled
        scenes it is tuned on."""
        validation = _checks.integer("validation", validation, 0, 10**9)
        return self.engineering + validation * self.per_scene

    def scenes(self, budget, validation: int = 0):
        """Labelled training scenes a budget buys once ``validation`` labelled validation
        scenes are paid for (negative if it cannot pay for them)."""
        validation = _checks.integer("validation", validation, 0, 10**9)
        return np.asarray(budget, float) / self.per_scene - validation

    def label_break_even(self, n_scenes: float, *, learned_validation: int = 0,
                         classical_validation: int = 0) -> float:
        """The price of one label above which the classical method costs less than
        ``n_scenes`` labelled training scenes, with each side's validation labels charged;
        ``inf`` when the classical side needs at least as many labels, so that it costs more
        at any price."""
        n_scenes = _checks.number("n_scenes", n_scenes, 0.0)
        extra = n_scenes + _checks.integer("learned_validation", learned_validation, 0, 10**9) \
            - _checks.integer("classical_validation", classical_validation, 0, 10**9)
        return float(self.engineering / extra - self.collect) if extra > 0 else float("inf")
