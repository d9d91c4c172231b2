"""One house style for every figure of the book.

Importing this module sets matplotlib's style. Methods have fixed colours everywhere:
`COLORS` ["classical"] is the hand-written pipeline, ["learned"] the trained model,
["features"] the pipeline with a learned descriptor, and ["constant"] the constant-depth
guess. Depth maps show inverse depth (near is bright) with one colour map, so that maps side
by side compare at a glance.
"""
from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle
import numpy as np

__all__ = ["COLORS", "DEPTH_CMAP", "ERROR_CMAP", "METRIC_LABELS", "figure_bytes",
           "interval_curve", "learning_curve", "show_depth", "verdict_map", "show_error",
           "show_frame", "show_matches",
           "task_stream"]

COLORS = {
    "classical": "#1f77b4",
    "learned": "#d62728",
    "features": "#9467bd",
    "constant": "#7f7f7f",
    "inlier": "#2ca02c",
    "outlier": "#ff7f0e",
}
#: Axis labels of the sweep's metrics.
METRIC_LABELS = {"absrel": "AbsRel (lower is better)", "delta1": "δ1 (higher is better)",
                 "bad1": "bad-1px rate (lower is better)"}
DEPTH_CMAP = "magma"
ERROR_CMAP = "viridis"

matplotlib.rcParams.update({
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (8.0, 3.0),
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.interpolation": "nearest",
})


def _scaled_inverse(depth, reference):
    """Inverse depth of ``depth``, median-scaled to ``reference`` when one is given."""
    inverse = 1.0 / np.asarray(depth, np.float64)
    if reference is not None:
        ref = 1.0 / np.asarray(reference, np.float64)
        ok = np.isfinite(inverse) & np.isfinite(ref) & (inverse > 0) & (ref > 0)
        inverse = inverse * (np.median(ref[ok]) / np.median(inverse[ok]))
    return inverse


def show_frame(ax, image, title=None):
    """Draws a grey frame (values in [0, 1]) without axes.

    Parameters
    ----------
    ax : matplotlib Axes
    image : (H, W) array
        The frame, float in [0, 1].
    title : str, optional

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_axis_off()
    if title:
        ax.set_title(title)


def show_depth(ax, depth, *, title=None, reference=None, limits=None):
    """Draws a depth map as inverse depth (near is bright).

    Parameters
    ----------
    ax : matplotlib Axes
    depth : (H, W) array
        Depth, any positive scale; inf or NaN are drawn blank.
    title : str, optional
    reference : (H, W) array, optional
        True depth: a relative ``depth`` is median-scaled to it first, and the colour limits
        come from it, so that the two maps share one scale.
    limits : (float, float), optional
        Colour limits in inverse depth; they override the reference's.

    Returns
    -------
    matplotlib AxesImage
        The image drawn, for a colour bar.
    """
    inverse = np.ma.masked_invalid(_scaled_inverse(depth, reference))
    if limits is None and reference is not None:
        ref = 1.0 / np.asarray(reference, np.float64)
        ref = ref[np.isfinite(ref) & (ref > 0)]
        limits = (ref.min(), ref.max())
    image = ax.imshow(inverse, cmap=DEPTH_CMAP, vmin=None if limits is None else limits[0],
                      vmax=None if limits is None else limits[1])
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return image


def show_error(ax, depth, truth, *, title=None, vmax=0.5):
    """Draws the relative error ``|d - d_true| / d_true`` of median-scaled depth.

    Parameters
    ----------
    ax : matplotlib Axes
    depth : (H, W) array
        Depth, any positive scale; it is median-scaled to ``truth``.
    truth : (H, W) array
        True depth. Pixels where either is not finite and positive are drawn blank.
    title : str, optional
    vmax : float
        The relative error at the top of the colour map.

    Returns
    -------
    matplotlib AxesImage
        The image drawn, for a colour bar.
    """
    depth, truth = np.asarray(depth, np.float64), np.asarray(truth, np.float64)
    ok = np.isfinite(depth) & np.isfinite(truth) & (depth > 0) & (truth > 0)
    scaled = depth * np.median(truth[ok]) / np.median(depth[ok])
    error = np.ma.masked_where(~ok, np.abs(scaled - truth) / np.where(ok, truth, 1.0))
    image = ax.imshow(error, cmap=ERROR_CMAP, vmin=0.0, vmax=vmax)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return image


def show_matches(ax, image, points, flow, *, inliers=None, title=None, scale=1.0):
    """Draws matches on a frame as flow arrows: inliers green, outliers orange.

    Parameters
    ----------
    ax : matplotlib Axes
    image : (H, W) array
        The frame the matches start in, float in [0, 1].
    points : (N, 2) array
        Where the arrows start, ``(x, y)`` in pixels.
    flow : (N, 2) array
        The arrows, ``(dx, dy)`` in pixels.
    inliers : (N,) bool array, optional
        Which matches are inliers; all of them by default.
    title : str, optional
    scale : float
        Multiplies the arrows' lengths.

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    show_frame(ax, image, title)
    points, flow = np.asarray(points).reshape(-1, 2), np.asarray(flow).reshape(-1, 2)
    inliers = np.ones(len(points), bool) if inliers is None else np.asarray(inliers)
    for keep, colour in ((~inliers, COLORS["outlier"]), (inliers, COLORS["inlier"])):
        if keep.any():
            ax.quiver(points[keep, 0], points[keep, 1], scale * flow[keep, 0],
                      scale * flow[keep, 1], color=colour, angles="xy", scale_units="xy",
                      scale=1.0, width=0.006, headwidth=3)


def learning_curve(ax, sweep, metric, *, mark=None, crossing=True):
    """Draws a sweep's learning curve, with its seed band, against the flat lines of the
    classical pipeline and the constant guess; and, when the sweep measured it, the curve of
    the pipeline with a learned descriptor.

    Parameters
    ----------
    ax : matplotlib Axes
    sweep : depthlab.experiments.Sweep
    metric : str
        A key of `METRIC_LABELS`.
    mark : float, optional
        A training-set size to mark with a dashed line.
    crossing : bool
        Shade where the curve crosses the pipeline's line (the range over seeds).

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    values = sweep.learned[metric]
    n = np.array(sweep.sizes)
    ax.fill_between(n, values.min(1), values.max(1), color=COLORS["learned"], alpha=0.25,
                    lw=0)
    ax.plot(n, values.mean(1), "o-", color=COLORS["learned"], ms=4, label="learned (seeds)")
    if sweep.learned_features:
        middle = sweep.learned_features[metric]
        ax.fill_between(n, middle.min(1), middle.max(1), color=COLORS["features"], alpha=0.25,
                        lw=0)
        ax.plot(n, middle.mean(1), "s-", color=COLORS["features"], ms=3.5,
                label="learned features (seeds)")
    for name, style in (("classical", "-"), ("constant", ":")):
        ax.axhline(sweep.methods[name][metric], color=COLORS[name], ls=style, label=name)
    if crossing:
        cross = sweep.crossover(metric)
        if len(cross) == 1 and np.isfinite(cross).all():
            ax.axvline(cross[0], color="0.6", lw=3, alpha=0.5, zorder=0, label="crossover")
        elif np.isfinite(cross).all():
            ax.axvspan(cross.min(), cross.max(), color="0.85", zorder=0,
                       label="crossover (seeds)")
    if mark is not None:
        ax.axvline(mark, color="k", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("training scenes N")
    ax.set_ylabel(METRIC_LABELS[metric])


def interval_curve(ax, study, metric, *, mark=None, monocular=True):
    """Draws a crossover study's learning curve with its 95% bootstrap band, against the
    flat lines of the tuned classical methods (with their bands) and the constant guess.

    Parameters
    ----------
    ax : matplotlib Axes
    study : depthlab.experiments.CrossoverStudy
    metric : str
        A key of `METRIC_LABELS`, with ``_noc`` for the non-occluded pixels.
    mark : float, optional
        A training-set size to mark with a dashed line.
    monocular : bool
        Also draw the monocular control (frame 0 twice, seed 0) as open circles.

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    n = np.array(study.sizes)
    low, high = np.array(study.ci(metric)).T
    ax.fill_between(n, low, high, color=COLORS["learned"], alpha=0.25, lw=0)
    ax.plot(n, study.mean(metric), "o-", color=COLORS["learned"], ms=4,
            label="learned (95% interval)")
    if monocular:
        ax.plot(study.monocular_sizes, [np.mean(v) for v in study.monocular[metric]], "o:",
                mfc="none", color=COLORS["learned"], ms=5, label="monocular control")
    for name, style, label in (("classical", "-", "SIFT pipeline (tuned)"),
                               ("motion_stereo", "--", "motion stereo (tuned)")):
        ax.axhspan(*study.ci(metric, name), color=COLORS["classical"], alpha=0.15, lw=0)
        ax.axhline(study.mean(metric, name), color=COLORS["classical"], ls=style, label=label)
    ax.axhline(study.mean(metric, "constant"), color=COLORS["constant"], ls=":",
               label="constant")
    if mark is not None:
        ax.axvline(mark, color="k", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("training scenes N")
    ax.set_ylabel(METRIC_LABELS[metric.removesuffix("_noc")]
                  + (", non-occluded" if metric.endswith("_noc") else ""))


def verdict_map(ax, atlas, metric, method, *, confidence=0.95):
    """Draws who wins where: one row per level of a crossover map (the easiest on top), one
    cell per training-set size, coloured by the winner at ``confidence`` (grey: neither) and
    labelled with the mean gap (the learned model's error minus the method's).

    Parameters
    ----------
    ax : matplotlib Axes
    atlas : depthlab.experiments.CrossoverMap
    metric : str
        "absrel" or "delta1" (or another `SCENE_METRICS` name).
    method : str
        "classical" (the SIFT pipeline) or "motion_stereo".
    confidence : float
        Level of the bootstrap interval that decides each verdict (`CrossoverMap.verdicts`).

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    colours = {"learned": COLORS["learned"], method: COLORS["classical"], "undecided": "0.85"}
    levels, sizes = list(atlas.levels), atlas.sizes
    for row, level in enumerate(levels):
        gap = atlas.levels[level].gap(metric, method).mean(1)
        for col, verdict in enumerate(atlas.verdicts(level, metric, method, confidence)):
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1,
                                   color=colours[verdict], alpha=0.8, lw=0))
            ax.text(col, row, f"{gap[col]:+.3f}", ha="center", va="center", fontsize=7,
                    color="k" if verdict == "undecided" else "w")
    ax.set_xlim(-0.5, len(sizes) - 0.5)
    ax.set_ylim(len(levels) - 0.5, -0.5)
    ax.set_xticks(range(len(sizes)), [str(n) for n in sizes])
    ax.set_yticks(range(len(levels)), [level.replace("_", " ") for level in levels])
    ax.set_xlabel("training scenes N")
    ax.spines[["left", "bottom"]].set_visible(False)
    ax.tick_params(length=0)
    name = {"classical": "SIFT pipeline", "motion_stereo": "motion stereo"}[method]
    ax.set_title(f"{METRIC_LABELS[metric.removesuffix('_noc')].split(' (')[0]}: learned vs "
                 f"{name}")


def figure_bytes(fig, format="png", dpi=None) -> bytes:
    """Renders a figure to image bytes and closes it.

    Parameters
    ----------
    fig : matplotlib Figure
    format : {"png", "jpeg"}
        JPEG (quality 85) is several times smaller for figures of photographs.
    dpi : float, optional
        Resolution; default the style's.

    Returns
    -------
    bytes
        The encoded image.
    """
    if format not in ("png", "jpeg"):
        raise ValueError(f"format must be 'png' or 'jpeg', got {format!r}")
    buffer = io.BytesIO()
    fig.savefig(buffer, format=format, bbox_inches="tight", dpi=dpi,
                pil_kwargs={"quality": 85} if format == "jpeg" else None)
    plt.close(fig)
    return buffer.getvalue()


def task_stream(ax, tasks, *, colour=COLORS["learned"], title=None):
    """Draws jobs as bars over time, one row per worker (a Gantt chart, as Dask's dashboard
    draws its task stream).

    Parameters
    ----------
    ax : matplotlib Axes
    tasks : sequence of depthlab.parallel.Task
        Each with a ``worker`` name, ``start`` and ``stop`` in seconds.
    colour : matplotlib colour, or a sequence of one per task
    title : str, optional

    Returns
    -------
    None
        The drawing is on ``ax``.
    """
    rows = sorted({t.worker for t in tasks}, key=lambda w: (len(w), w))
    colours = [colour] * len(tasks) if isinstance(colour, str) else list(colour)
    for task, c in zip(tasks, colours):
        ax.barh(rows.index(task.worker), task.stop - task.start, left=task.start, height=0.8,
                color=c, edgecolor="white", linewidth=0.6)
    ax.set_yticks(range(len(rows)), rows if len(rows) <= 16 else [""] * len(rows))
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    if title:
        ax.set_title(title, fontsize=9)
