"""Tests of depthlab.hybrid: the photometric check and the fallback rule."""
import dataclasses

import numpy as np
import pytest

from depthlab import hybrid, learned, world

QUICK = learned.TrainConfig(steps=12, batch=4, crop=(32, 48))


@pytest.fixture(scope="module")
def parts():
    scenes = world.render_scenes(world.HELD_OUT_SEED, range(4))
    return hybrid.prepare(learned.train(8, config=QUICK, progress=False), scenes.frame0,
                          scenes.frame1), scenes


def test_the_true_disparity_explains_the_frames_better_than_a_wrong_one():
    scene = world.render_scene(world.HELD_OUT_SEED, 0)
    true = hybrid.photometric_error(scene.frame0, scene.frame1, scene.disparity,
                                    scene.direction)
    wrong = hybrid.photometric_error(scene.frame0, scene.frame1, 0.5 * scene.disparity,
                                     scene.direction)
    assert true < 0.5 * wrong
    assert hybrid.photometric_error(scene.frame0, scene.frame1, np.full((64, 96), 90.0),
                                    scene.direction) == np.inf


def test_the_settings_run_from_all_learned_to_all_classical(parts):
    parts, _ = parts
    depth, fallback = hybrid.combine(parts, np.inf, np.inf, margin=np.inf)
    assert not fallback.any() and np.array_equal(depth, parts.learned)
    depth, fallback = hybrid.combine(parts, 0.0, radius=np.inf, margin=np.inf)
    reliable = parts.reliable[:, None, None] & (parts.uncertainty > 0)
    assert np.array_equal(fallback, np.broadcast_to(reliable, fallback.shape))
    assert np.array_equal(depth[fallback], parts.classical[fallback])
    near = hybrid.combine(parts, 0.0, radius=3.0, margin=np.inf)[1]
    assert near.sum() < fallback.sum() and (parts.distance[near] <= 3).all()


def test_the_pipeline_is_scaled_to_the_learned_depth_and_never_used_without_evidence(parts):
    parts, _ = parts
    for i in range(len(parts)):
        assert np.median(parts.classical[i] / parts.learned[i]) == pytest.approx(1, abs=1e-6)
    unreliable = dataclasses.replace(parts, reliable=np.zeros(len(parts), bool))
    assert not hybrid.combine(unreliable, 0.0, radius=np.inf, margin=1.0)[1].any()


def test_a_failed_photometric_check_sends_the_whole_scene_back(parts):
    parts, _ = parts
    worse = parts.photometric.copy()
    worse[0] = [3.0, 1.0]
    failing = dataclasses.replace(parts, photometric=worse,
                                  reliable=np.ones(len(parts), bool))
    fallback = hybrid.combine(failing, np.inf, 6.0)[1]
    assert fallback[0].all() and failing.photometric_fails()[0]
    assert not failing.photometric_fails(margin=4.0)[0]


def test_bad_input_is_refused_with_what_was_expected(parts):
    parts, scenes = parts
    with pytest.raises(TypeError, match="hybrid.Parts"):
        hybrid.combine("parts", 0.1, 6.0)
    with pytest.raises(ValueError, match="threshold"):
        hybrid.combine(parts, -1.0, 6.0)
    with pytest.raises(ValueError, match="margin"):
        hybrid.combine(parts, 0.1, 6.0, margin=0.5)
    with pytest.raises(ValueError, match="disparity"):
        hybrid.photometric_error(scenes.frame0[0], scenes.frame1[0], np.zeros((3, 3)),
                                 np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="unit"):
        hybrid.photometric_error(scenes.frame0[0], scenes.frame1[0], np.zeros((64, 96)),
                                 np.array([2.0, 0.0]))
    with pytest.raises(ValueError, match="one classical.PipelineResult per pair"):
        hybrid.prepare(learned.train(8, config=QUICK, progress=False), scenes.frame0,
                       scenes.frame1, results=[])


def test_prepared_parts_are_cached_and_read_back_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    scenes = world.render_scenes(world.VALIDATION_SEED, range(3))
    model = learned.train(8, config=QUICK, progress=False)
    first = hybrid.prepare_cached(model, scenes.frame0, scenes.frame1)
    saved = list(tmp_path.glob("hybrid-*.npz"))
    assert len(saved) == 1
    again = hybrid.prepare_cached(model, scenes.frame0, scenes.frame1)
    assert list(tmp_path.glob("hybrid-*.npz")) == saved
    for field in dataclasses.fields(hybrid.Parts):
        a, b = getattr(first, field.name), getattr(again, field.name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    # Other frames are another entry.
    hybrid.prepare_cached(model, scenes.frame0[:2], scenes.frame1[:2])
    assert len(list(tmp_path.glob("hybrid-*.npz"))) == 2
    with pytest.raises(TypeError, match="DepthModel"):
        hybrid.prepare_cached("model", scenes.frame0, scenes.frame1)
