"""Tests of depthlab.world: determinism, exact geometry, and input checks."""
import dataclasses

import cv2
import numpy as np
import pytest

from depthlab import world


def warp_to_frame0(scene):
    """Frame 1 sampled at each frame-0 pixel moved by the true flow."""
    h, w = scene.depth.shape
    map_x = np.arange(w, dtype=np.float32) + scene.flow[..., 0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + scene.flow[..., 1]
    return cv2.remap(scene.frame1, map_x, map_y, cv2.INTER_LINEAR)


def test_same_inputs_give_bit_identical_scenes():
    a = world.render_scene(3, 17)
    b = world.render_scene(3, 17)
    c = world.render_scenes(3, [4, 17, 9])[1]
    for name in ("frame0", "frame1", "depth", "flow", "visible", "low_texture"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert np.array_equal(getattr(a, name), getattr(c, name))


def test_different_indices_and_seeds_give_different_scenes():
    a = world.render_scene(0, 0)
    assert not np.array_equal(a.frame0, world.render_scene(0, 1).frame0)
    assert not np.array_equal(a.frame0, world.render_scene(1, 0).frame0)


def test_config_changes_the_scene():
    a = world.render_scene(0, 0)
    b = world.render_scene(0, 0, world.WorldConfig(domain="microscopy"))
    assert not np.array_equal(a.frame0, b.frame0)
    assert np.array_equal(a.depth, b.depth)  # same geometry, other textures


def test_shapes_and_ranges():
    config = world.WorldConfig(height=48, width=80)
    batch = world.render_scenes(5, range(6), config)
    assert len(batch) == 6
    assert batch.frame0.shape == (6, 48, 80) and batch.flow.shape == (6, 48, 80, 2)
    assert batch.frame0.dtype == np.float32 and batch.depth.dtype == np.float32
    assert 0.0 <= batch.frame0.min() and batch.frame1.max() <= 1.0
    assert (batch.depth > 0).all() and np.isfinite(batch.depth).all()
    assert batch.visible.mean() > 0.5


def test_flow_is_parallel_and_its_length_is_the_disparity():
    for scene in world.render_scenes(2, range(5)):
        length = np.linalg.norm(scene.flow, axis=-1)
        assert np.allclose(length, scene.focal * scene.baseline / scene.depth, rtol=1e-5)
        assert np.allclose(length, scene.disparity, rtol=1e-5)
        assert np.allclose(scene.flow / length[..., None], scene.direction, atol=1e-5)


def test_warping_frame1_by_the_true_flow_reproduces_frame0_on_visible_pixels():
    clean = _clean()
    visible, occluded = [], []
    for scene in world.render_scenes(7, range(20), clean):
        error = np.abs(warp_to_frame0(scene) - scene.frame0)
        assert error[scene.visible].mean() < 0.03  # bilinear interpolation of the texture
        visible.append(error[scene.visible])
        occluded.append(error[~scene.visible])
    visible, occluded = np.concatenate(visible), np.concatenate(occluded)
    assert np.median(visible) < 0.005 and visible.mean() < 0.01
    assert np.median(occluded) > 20 * np.median(visible)


def test_warp_error_is_within_the_sensor_noise():
    noisy = _clean(noise=0.02)
    for scene in world.render_scenes(7, range(5), noisy):
        error = (warp_to_frame0(scene) - scene.frame0)[scene.visible]
        # The difference of two noisy samples has about sqrt(2) times the noise.
        assert error.std() < 2 * np.sqrt(2) * 0.02


def test_planes_have_affine_inverse_depth():
    config = world.WorldConfig(objects=(0, 0))  # the tilted background alone
    scene = world.render_scene(1, 2, config)
    h, w = scene.depth.shape
    ys, xs = np.mgrid[:h, :w]
    design = np.stack([np.ones(h * w), xs.ravel(), ys.ravel()], 1)
    inverse = 1.0 / scene.depth.ravel()
    coefficients, *_ = np.linalg.lstsq(design, inverse, rcond=None)
    assert np.abs(design @ coefficients - inverse).max() < 1e-5 * inverse.max()


def test_low_texture_share_controls_the_textureless_pixels():
    none = world.render_scenes(0, range(20), world.WorldConfig(low_texture_share=0.0))
    every = world.render_scenes(0, range(20), world.WorldConfig(low_texture_share=1.0))
    assert not none.low_texture.any() and every.low_texture.all()
    assert every.frame0.std(axis=(1, 2)).mean() < 0.5 * none.frame0.std(axis=(1, 2)).mean()


def test_motion_spread_zero_fixes_the_direction():
    config = world.WorldConfig(motion_direction=90.0, motion_spread=0.0)
    batch = world.render_scenes(0, range(10), config)
    assert np.allclose(batch.direction, [0.0, 1.0], atol=1e-9)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(height=8), ValueError, "height"),
    (dict(width=96.0), TypeError, "width"),
    (dict(noise=-0.1), ValueError, "noise"),
    (dict(noise="low"), TypeError, "noise"),
    (dict(domain="mars"), ValueError, "domain"),
    (dict(objects=(3, 1)), ValueError, "objects"),
    (dict(objects=[1, 3]), TypeError, "objects"),
    (dict(object_depth=(3.0, 8.0)), ValueError, "object_depth"),
    (dict(motion_spread=400.0), ValueError, "motion_spread"),
    (dict(shot_noise=-1e-3), ValueError, "shot_noise"),
    (dict(shot_noise=0.5), ValueError, "shot_noise"),
    (dict(blur=-0.5), ValueError, "blur"),
    (dict(blur=9.0), ValueError, "blur"),
    (dict(blur="soft"), TypeError, "blur"),
    (dict(lighting_change=1.0), ValueError, "lighting_change"),
])
def test_config_rejects_bad_values(kwargs, error, word):
    with pytest.raises(error, match=word):
        world.WorldConfig(**kwargs)


@pytest.mark.parametrize("args, error, word", [
    ((-1, [0]), ValueError, "seed"),
    ((0.5, [0]), TypeError, "seed"),
    ((0, [1.5]), TypeError, "index"),
    ((0, [-2]), ValueError, "index"),
    ((0, []), ValueError, "indices"),
])
def test_render_scenes_rejects_bad_arguments(args, error, word):
    with pytest.raises(error, match=word):
        world.render_scenes(*args)


def test_render_scene_rejects_a_foreign_config():
    with pytest.raises(TypeError, match="config"):
        world.render_scene(0, 0, config={"height": 64})


def test_a_single_scene_cannot_be_indexed():
    scene = world.render_scene(0, 0)
    with pytest.raises(TypeError, match="batch"):
        scene[0]


def test_large_batches_are_rendered_in_chunks_with_the_same_result():
    batch = world.render_scenes(4, range(300))
    assert batch.frame0.shape == (300, 64, 96) and batch.baseline.shape == (300,)
    assert np.array_equal(batch[299].frame1, world.render_scene(4, 299).frame1)


@pytest.mark.slow
def test_max_disparity_bounds_every_rendered_disparity():
    config = world.WorldConfig()
    largest = max(float(world.render_scenes(seed, range(1500), config).disparity.max())
                  for seed in (0, world.VALIDATION_SEED, world.HELD_OUT_SEED))
    assert 14.0 < largest <= config.max_disparity
    near = dataclasses.replace(config, object_depth=(1.5, 3.0), baseline=(0.5, 0.6))
    assert float(world.render_scenes(0, range(300), near).disparity.max()) \
        <= near.max_disparity
    assert near.max_disparity > config.max_disparity


def _clean(**knobs):
    """The default world without noise, blur and lighting change, with ``knobs`` on top."""
    return world.WorldConfig(**{"noise": 0.0, "shot_noise": 0.0, "blur": 0.0,
                                "lighting_change": 0.0, **knobs})


def test_noise_has_the_documented_standard_deviation():
    clean = world.render_scenes(0, range(20), _clean())
    for knobs, expected in ((dict(noise=0.02), lambda y: 0.02 + 0 * y),
                            (dict(noise=0.01, shot_noise=4e-3),
                             lambda y: np.sqrt(0.01 ** 2 + 4e-3 * y))):
        noisy = world.render_scenes(0, range(20), _clean(**knobs))
        inside = (clean.frame0 > 0.15) & (clean.frame0 < 0.85)  # no clipping
        residual = (noisy.frame0 - clean.frame0)[inside]
        assert abs(residual.mean()) < 1e-3
        # Standardised by the documented deviation, the residual has unit variance.
        assert abs(np.std(residual / expected(clean.frame0[inside])) - 1.0) < 0.02
        assert np.array_equal(noisy.depth, clean.depth)
    bright, dark = (clean.frame0 > 0.6) & (clean.frame0 < 0.85), (clean.frame0 > 0.15) & (
        clean.frame0 < 0.3)
    shot = world.render_scenes(0, range(20), _clean(shot_noise=4e-3)).frame0 - clean.frame0
    assert shot[bright].std() > 1.5 * shot[dark].std()  # shot noise grows with the signal


def test_lighting_change_scales_frame1_only():
    clean = world.render_scenes(0, range(20), _clean())
    lit = world.render_scenes(0, range(20), _clean(lighting_change=0.3))
    assert np.array_equal(lit.frame0, clean.frame0)
    fits = []  # frame 1 = gain * clean frame 1 + offset, fitted on the unclipped pixels
    for i in range(20):
        inside = (lit.frame1[i] > 0.01) & (lit.frame1[i] < 0.99)
        fits.append(np.polyfit(clean.frame1[i][inside], lit.frame1[i][inside], 1))
    gain, offset = np.array(fits).T
    assert np.abs(gain - 1).max() <= 0.31 and np.abs(offset).max() <= 0.16  # and the fit's error
    assert np.ptp(gain) > 0.2 and np.ptp(offset) > 0.1


def test_blur_smooths_both_frames_and_keeps_the_truth():
    sharp = world.render_scenes(0, range(10), _clean())
    soft = world.render_scenes(0, range(10), _clean(blur=1.0))
    for name in ("frame0", "frame1"):
        def detail(scenes, name=name):
            return np.abs(np.diff(getattr(scenes, name), axis=-1)).mean()

        assert detail(soft) < 0.7 * detail(sharp)
        assert abs(getattr(soft, name).mean() - getattr(sharp, name).mean()) < 2e-3
    for name in ("depth", "flow", "visible"):
        assert np.array_equal(getattr(soft, name), getattr(sharp, name))


def test_named_cameras_differ_only_in_the_camera_and_get_harder():
    assert list(world.CAMERAS) == ["ideal", "typical", "low_light"]
    assert world.CAMERAS["typical"] == world.WorldConfig()  # the default camera
    cameras = ("noise", "shot_noise", "blur")
    for camera in world.CAMERAS.values():
        assert dataclasses.replace(camera, **{k: getattr(world.WorldConfig(), k)
                                              for k in cameras}) == world.WorldConfig()
    ideal = world.CAMERAS["ideal"]
    assert (ideal.noise, ideal.shot_noise, ideal.blur) == (0.01, 0.0, 0.0)
    # The read noise follows the shot noise as Brooks et al. fitted it on real raw photographs.
    for camera in list(world.CAMERAS.values())[1:]:
        assert np.isclose(np.log(camera.noise ** 2), 2.18 * np.log(camera.shot_noise) + 1.20)
    clean = world.render_scenes(0, range(10), _clean())
    spread = [np.std(world.render_scenes(0, range(10), c).frame0 - clean.frame0)
              for c in world.CAMERAS.values()]
    assert spread == sorted(spread)
    for camera in list(world.CAMERAS.values())[1:]:
        assert camera.blur > 0 and camera.shot_noise > 0


def test_the_named_worlds_add_one_knob_group_at_a_time():
    assert list(world.WORLDS) == ["reference", "rectified", "wide", "randomized"]
    assert world.WORLDS["reference"] == world.WorldConfig()
    steps = list(world.WORLDS.values())
    changed = [{f.name for f in dataclasses.fields(world.WorldConfig)
                if getattr(a, f.name) != getattr(b, f.name)} for a, b in zip(steps, steps[1:])]
    assert changed == [{"motion_direction", "motion_spread"}, {"baseline"},
                       {"objects", "lighting_change"}]
    # A rectified pair moves along the rows, to the left, as the real pairs do.
    scenes = world.render_scenes(0, range(8), world.WORLDS["rectified"])
    np.testing.assert_allclose(scenes.direction, np.tile([-1.0, 0.0], (8, 1)), atol=1e-12)
    assert np.allclose(scenes.flow[..., 1], 0, atol=1e-5)
    # The wide world's scenes reach disparities of the range real pairs are scored at.
    scenes = world.render_scenes(0, range(256), world.WORLDS["wide"])
    largest = scenes.disparity.reshape(256, -1).max(1)
    assert np.percentile(largest, 10) < 8 and np.percentile(largest, 90) > 20
