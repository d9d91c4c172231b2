"""Tests of depthlab.widgets: the kernel-free explorer is wired in the front end."""
import ipywidgets
import matplotlib.pyplot as plt
import pytest

from depthlab import widgets


def draw(a, b=0, b_c=0):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.set_title(f"{a} {b} {b_c}")
    return fig


def test_two_controls_give_nested_stacks_linked_to_the_sliders():
    box = widgets.precomputed(draw, a=[1, 2, 3], b_c=[0.5, 1.5])
    *sliders, outer = box.children
    assert [s.description for s in sliders] == ["a", "b c"]
    assert len(outer.children) == 3 and all(len(s.children) == 2 for s in outer.children)
    images = [image.value for stack in outer.children for image in stack.children]
    assert len(set(images)) == 6  # one distinct figure per combination
    targets = {(link.source[0].model_id, link.target[0].model_id) for link in box.links}
    assert all(link.source[1] == "index" and link.target[1] == "selected_index"
               for link in box.links)
    assert (sliders[0].model_id, outer.model_id) in targets
    assert all((sliders[1].model_id, s.model_id) in targets for s in outer.children)


def test_start_picks_the_figure_and_slider_shown_first():
    box = widgets.precomputed(draw, start={"b_c": 1.5, "a": 3}, a=[1, 2, 3], b_c=[0.5, 1.5])
    *sliders, outer = box.children
    assert [s.value for s in sliders] == [3, 1.5]
    assert outer.selected_index == 2 and all(s.selected_index == 1 for s in outer.children)
    one = widgets.precomputed(draw, start={"a": 2}, a=[1, 2, 3])
    assert one.children[0].value == 2 and one.children[1].selected_index == 1


def test_live_redraws_on_change():
    calls = []

    def counting(a):
        calls.append(a)
        return draw(a)

    control = ipywidgets.IntSlider(value=1)
    widgets.live(counting, a=control)
    control.value = 4
    assert calls == [1, 4]


def test_live_button_runs_its_action_with_the_current_values_then_redraws():
    calls, done = [], []

    def counting(a):
        calls.append(a)
        return draw(a)

    control = ipywidgets.IntSlider(value=3)
    box = widgets.live(counting, actions={"go": lambda a: done.append(a)}, a=control)
    button = next(c for c in box.children if isinstance(c, ipywidgets.Button))
    assert button.description == "go"
    button.click()
    assert done == [3] and calls == [3, 3]


def test_live_answers_from_its_cache_and_fills_it():
    calls = []

    def counting(a):
        calls.append(a)
        return draw(a)

    ready = widgets.precomputed(draw, a=[1, 2])
    assert set(ready.figures) == {(1,), (2,)}
    cache = dict(ready.figures)
    control = ipywidgets.IntSlider(value=1, max=5)
    box = widgets.live(counting, cache=cache, a=control)
    image = box.children[-1]
    assert isinstance(image, ipywidgets.Image) and image.value == ready.figures[(1,)]
    control.value = 2
    assert calls == [] and image.value == ready.figures[(2,)]
    control.value = 3  # not in the cache: drawn once, then kept
    control.value = 1
    control.value = 3
    assert calls == [3] and set(cache) == {(1,), (2,), (3,)}


def test_bad_controls_are_refused():
    with pytest.raises(ValueError, match="one or two"):
        widgets.precomputed(draw, a=[1, 2], b=[1, 2], c=[1, 2])
    with pytest.raises(ValueError, match="at least two"):
        widgets.precomputed(draw, a=[1])
    with pytest.raises(TypeError, match="callable"):
        widgets.precomputed("draw", a=[1, 2])
    with pytest.raises(ValueError, match="start value"):
        widgets.precomputed(draw, start={"a": 5}, a=[1, 2])
    with pytest.raises(ValueError, match="start value"):
        widgets.precomputed(draw, start={"z": 1}, a=[1, 2])
    with pytest.raises(TypeError, match="value widget"):
        widgets.live(draw, a=[1, 2])
    with pytest.raises(TypeError, match="cache"):
        widgets.live(draw, cache=[1], a=ipywidgets.IntSlider())
    with pytest.raises(TypeError, match="actions"):
        widgets.live(draw, actions={"go": "not callable"}, a=ipywidgets.IntSlider())
