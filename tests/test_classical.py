"""Tests of depthlab.classical: each step on controlled input, the chain on easy scenes,
the fallback on textureless pairs, and input checks."""
import dataclasses
import warnings

import numpy as np
import pytest

from depthlab import classical, metrics, world

#: The ideal camera (sharp, little noise) on the background plane alone.
EASY = dataclasses.replace(world.CAMERAS["ideal"], objects=(0, 0), low_texture_share=0.0,
                           noise=0.005)


def test_the_pipeline_is_accurate_on_an_easy_scene():
    for index in range(3):
        scene = world.render_scene(world.HELD_OUT_SEED, index, EASY)
        depth = classical.estimate_depth(scene.frame0, scene.frame1)
        assert depth.shape == scene.depth.shape and depth.dtype == np.float32
        assert metrics.depth_metrics(depth, scene.depth).delta1 >= 0.9


def test_run_pipeline_keeps_consistent_intermediate_results():
    scene = world.render_scene(world.HELD_OUT_SEED, 2)
    r = classical.run_pipeline(scene.frame0, scene.frame1)
    assert r.reliable
    assert len(r.candidates) == len(r.features0) >= len(r.matches)
    assert (r.matches.ratio < 0.8).all()
    assert r.fit.inliers.shape == (len(r.matches),)
    assert len(r.points) == len(r.flow) == len(r.sparse_depth) == r.fit.inliers.sum()
    assert np.degrees(np.arccos(r.fit.direction @ scene.direction)) < 2.0


def test_the_pipeline_is_deterministic():
    scene = world.render_scene(world.HELD_OUT_SEED, 2)
    a = classical.estimate_depth(scene.frame0, scene.frame1)
    b = classical.estimate_depth(scene.frame0, scene.frame1, method="translation")
    assert np.array_equal(a, b)


def test_a_textureless_pair_is_flagged_unreliable_and_does_not_crash():
    flat = np.full((64, 96), 0.5, np.float32)
    r = classical.run_pipeline(flat, flat)
    assert not r.reliable and np.all(r.depth == 1.0)
    with pytest.warns(classical.UnreliableDepthWarning, match="constant"):
        depth = classical.estimate_depth(flat, flat)
    assert depth.shape == flat.shape and np.isfinite(depth).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classical.run_pipeline(flat, flat, method="fundamental")  # no warning, no crash


def test_translation_ransac_rejects_outliers_and_recovers_the_direction():
    rng = np.random.default_rng(0)
    direction = np.array([0.6, -0.8])
    p0 = rng.uniform(0, 90, size=(60, 2))
    p1 = p0 + rng.uniform(1, 8, size=(60, 1)) * direction + rng.normal(0, 0.1, (60, 2))
    outliers = np.arange(0, 60, 5)
    p1[outliers] = p0[outliers] + rng.uniform(-8, 8, size=(len(outliers), 2))
    fit = classical.filter_matches(p0, p1, threshold=0.5)
    expected = np.ones(60, bool)
    expected[outliers] = False
    assert (fit.inliers == expected).mean() > 0.95
    assert np.degrees(np.arccos(fit.direction @ direction)) < 1.0


def test_too_few_matches_for_the_fundamental_matrix():
    p = np.zeros((5, 2))
    fit = classical.filter_matches(p, p + 1.0, method="fundamental")
    assert not fit.inliers.any() and fit.fundamental is None


def test_relative_depth_is_inverse_disparity():
    flow = np.array([[2.0, 0.0], [4.0, 0.1], [-1.0, 0.0]])
    depth = classical.relative_depth(flow, direction=np.array([1.0, 0.0]))
    assert depth[:2] == pytest.approx([0.5, 0.25]) and np.isnan(depth[2])
    assert classical.relative_depth(flow)[2] == pytest.approx(1.0)


def test_densify_is_exact_on_a_plane_in_inverse_depth():
    rng = np.random.default_rng(1)
    corners = np.array([[0.0, 0.0], [0.0, 47.0], [47.0, 0.0], [47.0, 47.0]])
    points = np.concatenate([corners, rng.uniform(0, 47, size=(40, 2))])
    plane = lambda x, y: 0.2 + 0.01 * x - 0.002 * y  # noqa: E731
    dense = classical.densify(points, 1.0 / plane(points[:, 0], points[:, 1]), (48, 48))
    ys, xs = np.mgrid[:48, :48]
    assert np.allclose(1.0 / dense, plane(xs, ys), rtol=1e-5)


def test_densify_with_one_point_is_constant():
    dense = classical.densify(np.array([[3.0, 4.0]]), np.array([2.0]), (10, 12))
    assert np.all(dense == 2.0)


FRAME = np.zeros((32, 32), np.float32)


@pytest.mark.parametrize("frame0, frame1, error, word", [
    (np.zeros((32, 32, 3), np.float32), FRAME, ValueError, "frame0"),
    (FRAME, np.zeros((32, 32), np.int32), TypeError, "frame1"),
    (FRAME, np.zeros((32, 40), np.float32), ValueError, "same shape"),
    (np.full((32, 32), np.nan, np.float32), FRAME, ValueError, "NaN"),
    (np.zeros((0, 32), np.float32), FRAME, ValueError, "empty"),
    (np.full((32, 32), 2.0, np.float32), FRAME, ValueError, r"\[0, 1\]"),
    ([[0.0] * 32] * 32, FRAME, TypeError, "frame0"),
])
def test_bad_frames_are_refused(frame0, frame1, error, word):
    with pytest.raises(error, match=word):
        classical.estimate_depth(frame0, frame1)


def test_refinement_moves_matches_to_the_true_sub_pixel_position():
    scene = world.render_scene(3, 1, EASY)
    result = classical.run_pipeline(scene.frame0, scene.frame1)
    p0 = result.features0.points[result.matches.index0][result.fit.inliers]
    p1 = result.features1.points[result.matches.index1][result.fit.inliers]
    truth = p0 + scene.flow[np.round(p0[:, 1]).astype(int), np.round(p0[:, 0]).astype(int)]
    direction = result.fit.direction
    refined = classical.refine_matches(scene.frame0, scene.frame1, p0, p1, direction)
    along = lambda p: (p - truth) @ direction  # noqa: E731  (the error along the motion)
    before, after = np.median(np.abs(along(p1))), np.median(np.abs(along(refined)))
    print(before, after)
    assert after < 0.5 * before and after < 0.1
    assert np.abs(along(refined) - along(p1)).max() <= 2.5
    refined_run = classical.run_pipeline(scene.frame0, scene.frame1, refine=True)
    truth_depth = metrics.depth_metrics(refined_run.depth, scene.depth).absrel
    assert truth_depth < metrics.depth_metrics(result.depth, scene.depth).absrel
    assert classical.refine_matches(scene.frame0, scene.frame1, np.zeros((0, 2)),
                                    np.zeros((0, 2)), direction).shape == (0, 2)
    with pytest.raises(ValueError, match="window"):
        classical.refine_matches(scene.frame0, scene.frame1, p0, p1, direction, window=4)
    with pytest.raises(ValueError, match="direction"):
        classical.refine_matches(scene.frame0, scene.frame1, p0, p1, np.array([1.0, 1.0]))


def test_densify_interpolates_depth_or_inverse_depth_and_can_stop_at_edges():
    points = np.array([[0.0, 0.0], [0.0, 9.0], [9.0, 0.0], [9.0, 9.0],
                       [19.0, 0.0], [19.0, 9.0]])
    depth = np.array([1.0, 1.0, 1.0, 1.0, 4.0, 4.0])  # a near left part, a far right part
    inverse = classical.densify(points, depth, (10, 20))
    linear = classical.densify(points, depth, (10, 20), interpolate="depth")
    assert inverse[5, 14] < linear[5, 14]  # inverse depth favours the near surface
    assert np.isclose(linear[0, 14], 1.0 + 3.0 * 5 / 10)
    guide = np.zeros((10, 20), np.float32)
    guide[:, 12:] = 1.0  # the far surface is bright, from column 12 on
    edged = classical.densify(points, depth, (10, 20), interpolate="depth", guide=guide)
    assert np.all(edged[:, 13:] == 4.0) and np.all(edged[:, :10] == 1.0)
    with pytest.raises(ValueError, match="interpolate"):
        classical.densify(points, depth, (10, 20), interpolate="log")
    with pytest.raises(ValueError, match="guide"):
        classical.densify(points, depth, (10, 20), guide=np.zeros((5, 5), np.float32))
    with pytest.raises(TypeError, match="refine"):
        classical.run_pipeline(guide, guide, refine="yes")


def test_bad_parameters_are_refused():
    scene = world.render_scene(0, 0)
    with pytest.raises(ValueError, match="ratio"):
        classical.run_pipeline(scene.frame0, scene.frame1, ratio=1.5)
    with pytest.raises(ValueError, match="method"):
        classical.run_pipeline(scene.frame0, scene.frame1, method="homography")
    with pytest.raises(ValueError, match="threshold"):
        classical.run_pipeline(scene.frame0, scene.frame1, threshold=-1.0)
    with pytest.raises(TypeError, match="min_inliers"):
        classical.run_pipeline(scene.frame0, scene.frame1, min_inliers=2.5)
    with pytest.raises(TypeError, match="features0"):
        classical.match(scene.frame0, scene.frame1)
    with pytest.raises(ValueError, match="points1"):
        classical.filter_matches(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="direction"):
        classical.relative_depth(np.ones((3, 2)), direction=np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="at least one point"):
        classical.densify(np.zeros((0, 2)), np.zeros(0), (8, 8))
    with pytest.raises(ValueError, match="shape"):
        classical.densify(np.zeros((1, 2)), np.ones(1), (8, -8))
