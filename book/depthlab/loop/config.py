"""The loop's settings, and the world it serves: the phases of the drift, the stream of each
round, and the first model."""
from __future__ import annotations

import dataclasses

from .. import _checks, experiments, world

__all__ = ["DRIFTS", "PHASES", "RECIPE_GRID", "RECIPE_VALIDATION", "SIGNALS", "STEPS",
           "STRATEGIES", "LoopConfig", "phase", "stream_mix", "tuned"]


#: The loop's steps, in order (the chapter draws its diagram from this list).
STEPS = ("deploy", "monitor", "select", "label", "retrain", "gate", "redeploy")


#: Ways to choose which scenes of the stream to label.
STRATEGIES = ("random", "uncertainty", "disagreement", "photometric", "diversity")


#: The world's drift: phases of `LoopConfig.phase_rounds` rounds each, as changes to the
#: standard `world.WorldConfig`. The last phase lasts for ever.
#: After the photos the first model was trained on come dark, noisy frames; then a
#: microscope whose stage moves less between the frames (a shorter baseline, so smaller
#: flow); then documents, with more low-texture surfaces and uneven lighting.
PHASES = (("photos", {}),
          ("dark", {"brightness": 0.3, "noise": 0.04}),
          ("microscopy", {"domain": "microscopy", "baseline": (0.12, 0.2)}),
          ("documents", {"domain": "documents", "baseline": (0.12, 0.2),
                         "low_texture_share": 0.35, "lighting_change": 0.3}))


#: How the world moves from one phase to the next: "abrupt" (all at once, after
#: `LoopConfig.phase_rounds` rounds) or "gradual" (the next phase's share of the stream grows
#: by ``1 / phase_rounds`` a round).
DRIFTS = ("abrupt", "gradual")


#: The label-free signals that `monitor` computes for every served scene.
SIGNALS = ("photometric", "disagreement", "uncertainty")


#: The fine-tuning recipes tried on validation scenes by `tune_recipe`: optimisation steps,
#: learning rate, and replayed scenes of the first model per label bought.
RECIPE_GRID = {"steps": (60, 150), "lr": (1e-3, 3e-3), "replay": (0.5, 1.0)}


#: Labelled validation scenes per drifted phase (and of the first phase, for forgetting) on
#: which `tune_recipe` scores each recipe; their labels are part of the loop's cost.
RECIPE_VALIDATION = 48


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """The loop's settings (fixed for the life of a database).

    Parameters
    ----------
    budget : int
        Labels bought per round, at most ``stream``.
    strategy : str
        One of `STRATEGIES`.
    seed : int
        Seeds the first champion, the stream and the retraining.
    stream : int
        Unlabelled scenes served per round.
    initial : int
        Labelled scenes of the first phase the first champion was trained on (a model of
        the crossover sweep).
    initial_steps : int
        Training steps of the first champion (the sweep's recipe by default, so it is the
        sweep's cached model).
    held_out : int
        Scenes per phase in the gate's fixed, labelled held-out set.
    test : int
        Scenes per phase in a separate test set, on which champion, challenger and the frozen
        first model are scored for the record (the loop and its gate never see it).
    retrain : str
        "finetune" (the champion, trained further) or "scratch" (a fresh network, with the
        sweep's recipe), either on every label bought and ``replay`` times as many replayed
        scenes of the first model.
    steps, lr, replay : int, float, float
        The fine-tuning recipe: optimisation steps (one thread, like every training run of
        the book), learning rate, and replayed first-phase scenes per label bought (at most
        ``initial``). The defaults are `tune_recipe`'s choice.
    phase_rounds : int
        Rounds per phase of `PHASES`.
    drift : str
        One of `DRIFTS`.
    confidence : float
        The gate deploys a challenger only if a one-sided paired bootstrap at this level says
        it is better on the current phase's held-out set ...
    tolerance : float
        ... and it is not worse than the champion by more than this AbsRel on any earlier
        phase's held-out set.
    classical : tuple of (str, value) pairs, or None
        Parameters of motion stereo and its pipeline (`stereo.motion_stereo`), the
        classical method scored on the served stream, which the monitor compares the model
        with. None (the default): the book's strongest classical method, as
        `experiments.tune_classical` chooses it on validation scenes of the standard world
        (chapter 5's choice); `run` and `run_many` fill it in (`tuned`).
    """

    budget: int = 16
    strategy: str = "random"
    seed: int = 0
    stream: int = 48
    initial: int = experiments.SIZES[3]
    initial_steps: int = experiments.SWEEP_CONFIG.steps
    held_out: int = 48
    test: int = 64
    retrain: str = "finetune"
    steps: int = 60
    lr: float = 1e-3
    replay: float = 1.0
    phase_rounds: int = 2
    drift: str = "abrupt"
    confidence: float = 0.9
    tolerance: float = 0.01
    classical: tuple | None = None

    def __post_init__(self):
        _checks.integer("stream", self.stream, 2, 10_000)
        _checks.integer("budget", self.budget, 1, 10_000)
        if self.budget > self.stream:
            raise ValueError(f"budget must be at most the stream of {self.stream} scenes per "
                             f"round, got {self.budget}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.retrain not in ("finetune", "scratch"):
            raise ValueError(f"retrain must be 'finetune' or 'scratch', got {self.retrain!r}")
        if self.drift not in DRIFTS:
            raise ValueError(f"drift must be one of {DRIFTS}, got {self.drift!r}")
        _checks.integer("seed", self.seed, 0, 10**6)
        for name in ("initial", "initial_steps", "held_out", "test", "steps", "phase_rounds"):
            _checks.integer(name, getattr(self, name), 1, 10**6)
        _checks.number("lr", self.lr, 1e-6, 1.0)
        _checks.number("replay", self.replay, 0.0, 100.0)
        _checks.number("confidence", self.confidence, 0.5, 0.999)
        _checks.number("tolerance", self.tolerance, 0.0, 1.0)
        pairs = isinstance(self.classical, tuple) and all(
            isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in self.classical)
        if self.classical is not None and not pairs:
            raise TypeError("classical must be a tuple of (name, value) pairs of "
                            f"stereo.motion_stereo's parameters, got {self.classical!r}")


def tuned(config: LoopConfig) -> LoopConfig:
    """A loop's settings with its classical method filled in.

    Parameters
    ----------
    config : LoopConfig

    Returns
    -------
    LoopConfig
        ``config`` itself if it names its classical method; else ``config`` with the book's
        strongest classical method (`experiments.tune_classical` on the standard world, from
        the cache once chapter 5 has run), as sorted ``(name, value)`` pairs.
    """
    _checks.instance("config", config, LoopConfig)
    if config.classical is not None:
        return config
    tuning = experiments.tune_classical(progress=False)
    return dataclasses.replace(config, classical=tuple(sorted({**tuning.pipeline,
                                                               **tuning.stereo}.items())))


def stream_mix(round_: int, config: LoopConfig = LoopConfig()) -> tuple:
    """The phases of a round's stream, as ``(phase name, scenes)`` pairs, oldest first.

    Parameters
    ----------
    round_ : int
        The round, from 1.
    config : LoopConfig
        The loop's settings (``stream``, ``phase_rounds`` and ``drift`` matter).

    Returns
    -------
    tuple of (str, int)
        One pair for a single phase; two while a gradual drift mixes two phases. The scenes
        add up to ``config.stream``.
    """
    round_ = _checks.integer("round", round_, 1, 10**6)
    step, within = divmod(round_ - 1, config.phase_rounds)
    last = len(PHASES) - 1
    if config.drift == "abrupt" or step >= last:
        return ((PHASES[min(step, last)][0], config.stream),)
    newer = int(round(config.stream * within / config.phase_rounds))
    return tuple((PHASES[step + k][0], n) for k, n in enumerate((config.stream - newer, newer))
                 if n > 0)


def phase(round_: int, config: LoopConfig = LoopConfig()) -> tuple[str, world.WorldConfig]:
    """The newest phase in a round's stream (the one its gate tests on) and its world.

    Parameters
    ----------
    round_ : int
        The round, from 1.
    config : LoopConfig
        The loop's settings.

    Returns
    -------
    tuple of (str, world.WorldConfig)
        The phase's name in `PHASES` and the standard world with its changes.
    """
    name = stream_mix(round_, config)[-1][0]
    return name, _phase_world(name)


def _phase_world(name):
    return dataclasses.replace(world.WorldConfig(), **dict(PHASES)[name])


def _stream_seed(seed, name):
    return 7_000_000 + 1_000 * seed + [p for p, _ in PHASES].index(name)


def _phase_scenes(name, n, offset):
    """Fixed labelled scenes of a phase, apart from every stream and from the book's test
    scenes: the gate's held-out set (offset 1), the test set (offset 101), and the recipe's
    validation scenes (201) and labels (301)."""
    seed = world.HELD_OUT_SEED + offset + [p for p, _ in PHASES].index(name)
    return world.render_scenes(seed, range(n), _phase_world(name))


def _served(config, round_):
    """The scenes a round serves: ``(phase, stream seed, first index, world, scenes)`` for each
    phase of its mix, each phase's stream going on where the earlier rounds left it."""
    parts = []
    for name, n in stream_mix(round_, config):
        first = sum(m for r in range(1, round_) for p, m in stream_mix(r, config) if p == name)
        seed, world_config = _stream_seed(config.seed, name), _phase_world(name)
        parts.append((name, seed, first, world_config,
                      world.render_scenes(seed, range(first, first + n), world_config)))
    return parts


def _initial_config(config):
    """The recipe of a loop's first model: the sweep's, for ``config.initial_steps`` steps."""
    return dataclasses.replace(experiments.SWEEP_CONFIG, steps=config.initial_steps)


def _first_model(config, progress=False):
    """The loop's first model, the champion of round 0, through the model cache."""
    return experiments.trained_model(config.initial, seed=config.seed,
                                     config=_initial_config(config), progress=progress)


def _recipe_labels(config) -> int:
    """Labelled validation scenes that `tune_recipe` uses: ``budget`` to fine-tune on and
    `RECIPE_VALIDATION` to score on per drifted phase, and `RECIPE_VALIDATION` of the first
    phase (to measure forgetting)."""
    return (len(PHASES) - 1) * (config.budget + RECIPE_VALIDATION) + RECIPE_VALIDATION
