"""The loop's policy, what it decides without labels: the monitor's signals, which scenes to
label, when the world has changed, and whether a challenger may replace the champion."""
from __future__ import annotations

import numpy as np
import scipy.stats
import torch

from .. import _checks, bootstrap, classical, experiments, explain, hybrid, learned, metrics, world
from ..stereo import motion_stereo, search_range
from .config import SIGNALS, STRATEGIES, LoopConfig, tuned

__all__ = ["alarm", "gate", "monitor", "select"]


def _split_classical(params):
    params = dict(params)
    stereo = {k: params.pop(k) for k in experiments.STEREO_GRID if k in params}
    return params, stereo


def _motion(result):
    """What the photometric error needs of a `classical.run_pipeline` result: the unit RANSAC
    direction, and the inliers' points and flow; None when the pipeline found no direction."""
    if result.reliable and result.fit.direction is not None and len(result.points):
        return (result.fit.direction / np.linalg.norm(result.fit.direction), result.points,
                result.flow)
    return None


def _photometric_error(frame0, frame1, disparity, motion):
    """`hybrid.photometric_error` of a disparity map known up to scale: along the pipeline's
    RANSAC direction, at the scale that matches its inliers' flow (the median ratio), or,
    when the pipeline finds no direction (``motion`` is None, see `_motion`), at the best of 8
    directions and 9 global scales. Returns the error and whether that brute-force fallback
    was used."""
    if motion is not None:
        direction, points, flow = motion
        h, w = disparity.shape
        x = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
        y = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
        scale = np.median(np.linalg.norm(flow, axis=1) / disparity[y, x])
        return hybrid.photometric_error(frame0, frame1, scale * disparity, direction), False
    return min(hybrid.photometric_error(frame0, frame1, scale * disparity,
                                        np.array([np.cos(angle), np.sin(angle)]))
               for angle in np.radians(np.arange(0.0, 360.0, 45.0))
               for scale in np.geomspace(0.5, 2.0, 9)), True


def _classical_view(scenes, classical_params, world_config):
    """The part of `monitor` that no model changes, on a batch of scenes: per scene, the
    pipeline's motion (`_motion`), motion stereo's depth and its true AbsRel."""
    pipeline, stereo = _split_classical(classical_params)
    search = search_range(world_config.max_disparity)
    motions, depths = [], []
    for a, b in zip(scenes.frame0, scenes.frame1):
        result = classical.run_pipeline(a, b, **pipeline)
        motions.append(_motion(result))
        depths.append(motion_stereo(a, b, max_disparity=search, result=result, **stereo))
    return {"motion": motions, "depth": np.stack(depths),
            "absrel": np.array([metrics.depth_metrics(d, t).absrel
                                for d, t in zip(depths, scenes.depth)], float)}


def _watch(model, scenes, view):
    """`monitor`'s signals of ``model`` on ``scenes``, given their `_classical_view`."""
    depth, spread = explain.learned_uncertainty(model, scenes.frame0, scenes.frame1)
    n = len(scenes)
    out = {k: np.zeros(n) for k in ("photometric", "disagreement", "absrel")}
    out["classical"] = view["absrel"]
    out["uncertainty"], out["fallback"] = spread.mean((-2, -1)), np.zeros(n, bool)
    for i in range(n):
        a, b = scenes.frame0[i], scenes.frame1[i]
        out["disagreement"][i] = np.abs(explain.relative_log_depth(depth[i])
                                        - explain.relative_log_depth(view["depth"][i])).mean()
        out["photometric"][i], out["fallback"][i] = _photometric_error(a, b, 1.0 / depth[i],
                                                                       view["motion"][i])
        out["absrel"][i] = metrics.depth_metrics(depth[i], scenes.depth[i]).absrel
    return out


def monitor(model: learned.DepthModel, scenes: world.Scene,
            *, classical_params: tuple | None = None,
            world_config: world.WorldConfig = world.WorldConfig()) -> dict:
    """The label-free signals on a batch of served scenes, and the true errors for analysis.

    Parameters
    ----------
    model : learned.DepthModel
    scenes : world.Scene
        A batch from `world.render_scenes`.
    classical_params : tuple of (name, value) pairs, optional
        Motion stereo's parameters (see `LoopConfig.classical`); by default the tuned ones.
    world_config : world.WorldConfig
        The scenes' world (motion stereo searches up to its largest disparity).

    Returns
    -------
    dict of (N,) arrays
        ``photometric``: the photometric error of the model's depth (frame 1 warped onto
        frame 0 by the flow it implies, along the pipeline's motion direction, at the scale of
        its inliers); ``fallback``: True where the pipeline found no direction and the
        photometric error took the best of a brute-force search instead;
        ``disagreement``: mean |log| ratio of the model's and motion stereo's median-scaled
        depth; ``uncertainty``: the spread of the model's log depth over the four flips of
        the input (a small test-time ensemble). For analysis only (the loop never reads
        them): ``absrel``, the model's true error, and ``classical``, motion stereo's.
    """
    _checks.scenes("scenes", scenes)
    if classical_params is None:
        classical_params = tuned(LoopConfig()).classical
    return _watch(model, scenes, _classical_view(scenes, classical_params, world_config))


def gate(champion: np.ndarray, challenger: np.ndarray, *, earlier=(), confidence: float = 0.9,
         tolerance: float = 0.01, seed: int = 0) -> dict:
    """The gate's decision: deploy the challenger only if it is better on the current phase's
    held-out scenes and no worse on the earlier phases'.

    Parameters
    ----------
    champion, challenger : (N,) arrays
        Per-scene AbsRel of both models on the same held-out scenes of the current phase.
    earlier : sequence of (float, float)
        Champion's and challenger's mean AbsRel on each earlier phase's held-out set.
    confidence : float
        Level of the one-sided paired bootstrap interval (percentile, 2000 resamples) of the
        mean gain (champion minus challenger), whose lower end must be above 0.
    tolerance : float
        The largest regression (challenger minus champion) allowed on an earlier phase.
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    dict
        ``gain`` (mean, > 0 is better), ``lower`` (the interval's lower end), ``regression``
        (the largest on an earlier phase; 0 without any), ``deploy`` (bool).
    """
    champion, challenger = (np.asarray(v, float) for v in (champion, challenger))
    if champion.ndim != 1 or champion.shape != challenger.shape or len(champion) < 2:
        raise ValueError("champion and challenger must be per-scene scores on the same "
                         f"(N,) held-out scenes, N >= 2; got shapes {champion.shape} and "
                         f"{challenger.shape}")
    if not (np.isfinite(champion).all() and np.isfinite(challenger).all()):
        raise ValueError("champion and challenger scores must be finite")
    gain = champion - challenger
    lower = bootstrap.lower_bound(gain, confidence, seed=seed)
    regression = max([float(new - old) for old, new in earlier], default=0.0)
    return {"gain": float(gain.mean()), "lower": lower, "regression": regression,
            "deploy": bool(lower > 0 and regression <= tolerance)}


def alarm(previous: dict, current: dict) -> dict:
    """Drift alarms from two consecutive served batches: per signal of `SIGNALS`, the
    two-sample Kolmogorov-Smirnov statistic between the batches (0 for the same
    distribution, 1 for disjoint ones; two-sided, so a signal that falls counts as much as one
    that rises) and its p-value.

    Parameters
    ----------
    previous, current : dict
        The two batches' signals: each name of `SIGNALS` to per-scene values (as `monitor`
        returns them, or a round's ``served_signals``). Non-finite values are left out.

    Returns
    -------
    dict
        Signal name to ``{"ks": statistic, "p": p-value}``, two floats.
    """
    out = {}
    for signal in SIGNALS:
        a, b = (np.asarray(batch[signal], float) for batch in (previous, current))
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        test = scipy.stats.ks_2samp(a, b)
        out[signal] = {"ks": float(test.statistic), "p": float(test.pvalue)}
    return out


def select(strategy: str, signals: dict, features: np.ndarray, budget: int,
           rng: np.random.Generator) -> np.ndarray:
    """Indices of ``budget`` served scenes to label.

    "random" draws them uniformly; "uncertainty", "disagreement" and "photometric" take the
    largest signal; "diversity" takes the most uncertain half of the stream (at least twice
    the budget) and covers it greedily (k-centre) in the space of ``features``, so that the
    batch is not a handful of near-identical hard scenes.

    Parameters
    ----------
    strategy : str
        One of `STRATEGIES`.
    signals : dict
        `monitor`'s (N,) arrays of the served scenes, by signal name.
    features : (N, D) array
        A description of each served scene, for "diversity".
    budget : int
        Scenes to label, from 1 to N.
    rng : numpy.random.Generator
        Draws the "random" choice.

    Returns
    -------
    (budget,) int array
        The chosen indices, in increasing order.
    """
    n = len(features)
    budget = _checks.integer("budget", budget, 1, n)
    if strategy == "random":
        return np.sort(rng.choice(n, budget, replace=False))
    if strategy in ("uncertainty", "disagreement", "photometric"):
        return np.sort(np.argsort(-signals[strategy], kind="stable")[:budget])
    if strategy != "diversity":
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    pool = np.argsort(-signals["uncertainty"], kind="stable")[:max(2 * budget, n // 2)]
    chosen = [pool[0]]
    distance = np.linalg.norm(features[pool] - features[pool[0]], axis=1)
    while len(chosen) < budget:
        nxt = int(np.argmax(distance))
        chosen.append(pool[nxt])
        distance = np.minimum(distance, np.linalg.norm(features[pool] - features[pool[nxt]],
                                                       axis=1))
    return np.sort(np.array(chosen))


def _features(model, scenes):
    """Per scene, the network's image-wide match profile (the mean cost volume): a
    description of how the scene matches, used for diversity."""
    frames = torch.from_numpy(np.stack([scenes.frame0, scenes.frame1], 1))
    _, scene, _ = model.net.front(frames)
    return scene[:, :, 0, 0].numpy()


def _scene_scores(model, scenes):
    """Per-scene AbsRel of a model on a batch of scenes."""
    return np.array([m.absrel for m in learned.evaluate(model, scenes)])
