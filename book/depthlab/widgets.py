"""Interactive figures: a precomputed version that responds without a kernel, and a live one.

`precomputed` renders a figure for every combination of control values up front and stacks
the images in `ipywidgets.Stack` widgets whose ``selected_index`` is linked to the sliders in the
browser (`ipywidgets.jslink`). The stored widget state is enough: on the static site, moving
a slider switches figures with no kernel at all.

`live` calls the drawing function again on every change of its controls, so it covers any
value, but only with a running kernel (Binder, Jupyter). Given the figures of a `precomputed`
explorer as its cache, it answers at once for the values those cover.
"""
from __future__ import annotations

import itertools

import ipywidgets
from tqdm.auto import tqdm

from .plotting import figure_bytes

__all__ = ["live", "precomputed"]


def _label(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def precomputed(draw, *, progress: bool = True, dpi=100, start=None,
                **controls) -> ipywidgets.VBox:
    """A figure explorer that works without a kernel.

    Parameters
    ----------
    draw : callable
        ``draw(**values)`` returns a matplotlib Figure for one value of every control.
    progress : bool
        Show a progress bar while the figures are drawn.
    dpi : float
        Resolution of the stored figures. Every one is saved with the page, as JPEG.
    start : dict, optional
        The value each named control shows first (by default its first value).
    **controls : list
        One or two controls, each a name and its list of values; a slider per control,
        labelled with the name (underscores shown as spaces).

    Returns
    -------
    ipywidgets.VBox
        The sliders, one per row, above the stacked figures. Its ``links`` attribute lists
        the slider-to-stack links, and ``figures`` maps each tuple of control values to its
        image bytes (a ready-made ``cache`` for `live`).
    """
    if not callable(draw):
        raise TypeError("draw must be callable")
    if not 1 <= len(controls) <= 2:
        raise ValueError(f"precomputed takes one or two controls, got {len(controls)}")
    names = list(controls)
    for name, values in controls.items():
        if not isinstance(values, (list, tuple)) or len(values) < 2:
            raise ValueError(f"control {name!r} needs a list of at least two values")
    start = {} if start is None else dict(start)
    for name, value in start.items():
        if name not in controls or value not in controls[name]:
            raise ValueError(f"start value {value!r} of {name!r} is not one of that control's "
                             "values")
    first = [list(values).index(start[name]) if name in start else 0
             for name, values in controls.items()]
    combos = list(itertools.product(*controls.values()))
    figures = {combo: figure_bytes(draw(**dict(zip(names, combo))), "jpeg", dpi)
               for combo in tqdm(combos, desc="figures", disable=not progress)}
    images = [ipywidgets.Image(value=figures[combo], format="jpeg") for combo in combos]
    sliders = [ipywidgets.SelectionSlider(options=[(_label(v), v) for v in values],
                                          index=index, description=name.replace("_", " "),
                                          continuous_update=True,
                                          style={"description_width": "initial"})
               for index, (name, values) in zip(first, controls.items())]
    if len(names) == 1:
        stack = ipywidgets.Stack(images, selected_index=first[0])
        links = [ipywidgets.jslink((sliders[0], "index"), (stack, "selected_index"))]
    else:
        inner_size = len(controls[names[1]])
        inner = [ipywidgets.Stack(images[i:i + inner_size], selected_index=first[1])
                 for i in range(0, len(images), inner_size)]
        stack = ipywidgets.Stack(inner, selected_index=first[0])
        links = [ipywidgets.jslink((sliders[0], "index"), (stack, "selected_index"))]
        links += [ipywidgets.jslink((sliders[1], "index"), (child, "selected_index"))
                  for child in inner]
    box = ipywidgets.VBox([*sliders, stack])
    box.links = links
    box.figures = figures
    return box


def live(draw, *, actions=None, cache=None, dpi=100, **controls) -> ipywidgets.VBox:
    """A figure explorer that redraws on every change (needs a running kernel).

    Parameters
    ----------
    draw : callable
        ``draw(**values)`` returns a matplotlib Figure.
    actions : dict, optional
        Button label to a callable ``action(**values)``; a click runs it (its printed output
        and progress bars appear above the figure), then redraws.
    cache : dict, optional
        Figures already drawn, as image bytes by the tuple of control values (in the order of
        ``controls``), for instance a `precomputed` explorer's ``figures``: a change to
        values found there answers at once instead of drawing. Every figure drawn is added
        to it; an action that changes what ``draw`` returns removes the entries it affects.
    dpi : float
        Resolution of the figures drawn.
    **controls : ipywidgets.ValueWidget
        The controls, by the name of the argument of ``draw`` they set.

    Returns
    -------
    ipywidgets.VBox
        The controls and buttons above the current figure.
    """
    if not callable(draw):
        raise TypeError("draw must be callable")
    for name, control in controls.items():
        if not isinstance(control, ipywidgets.ValueWidget):
            raise TypeError(f"control {name!r} must be an ipywidgets value widget")
    actions = {} if actions is None else actions
    if not isinstance(actions, dict) or not all(callable(a) for a in actions.values()):
        raise TypeError("actions must be a dict of button labels to callables")
    if cache is not None and not isinstance(cache, dict):
        raise TypeError(f"cache must be a dict, got {type(cache).__name__}")
    image, log = ipywidgets.Image(format="jpeg"), ipywidgets.Output()

    def values():
        return {name: control.value for name, control in controls.items()}

    def redraw(_=None):
        current = values()
        key = tuple(current.values())
        if cache is not None and key in cache:
            image.value = cache[key]
            return
        figure = figure_bytes(draw(**current), "jpeg", dpi)
        if cache is not None:
            cache[key] = figure
        image.value = figure

    def button(label, action):
        def clicked(_):
            log.clear_output()
            with log:
                action(**values())
            redraw()

        widget = ipywidgets.Button(description=label, layout={"width": "auto"})
        widget.on_click(clicked)
        return widget

    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    buttons = [button(label, action) for label, action in actions.items()]
    return ipywidgets.VBox([*controls.values(), *buttons, log, image])
