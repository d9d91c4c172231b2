"""Tests of depthlab.stereo: motion stereo and semi-global matching."""
import dataclasses

import numpy as np
import pytest

from depthlab import classical, metrics, stereo, world


def test_motion_stereo_matches_along_the_motion_in_any_direction():
    # Scenes whose flow points right, down, left and diagonally: SGBM only works once the
    # frames are rotated so that the flow points left.
    for direction in (0.0, 90.0, 180.0, 225.0):
        config = dataclasses.replace(world.CAMERAS["ideal"], objects=(1, 3),
                                     motion_direction=direction, motion_spread=0.0)
        for index in (0, 2):
            scene = world.render_scene(world.HELD_OUT_SEED, index, config)
            depth = stereo.motion_stereo(scene.frame0, scene.frame1)
            assert depth.shape == scene.depth.shape and np.isfinite(depth).all()
            scores = metrics.depth_metrics(depth, scene.depth)
            pipeline = metrics.depth_metrics(
                classical.estimate_depth(scene.frame0, scene.frame1), scene.depth)
            assert scores.delta1 >= 0.85 and scores.delta1 > pipeline.delta1, direction


def test_motion_stereo_falls_back_to_the_pipeline_without_a_direction():
    flat = np.full((64, 96), 0.5, np.float32)
    assert np.all(stereo.motion_stereo(flat, flat) == 1.0)
    with pytest.raises(ValueError, match="multiple of 16"):
        scene = world.render_scene(0, 0)
        stereo.motion_stereo(scene.frame0, scene.frame1, max_disparity=24)


def test_bad_matcher_parameters_are_refused():
    scene = world.render_scene(0, 0)
    with pytest.raises(ValueError, match="multiple of 16"):
        stereo.stereo_sgbm(scene.frame0, scene.frame1, max_disparity=20)
    with pytest.raises(ValueError, match="odd"):
        stereo.stereo_sgbm(scene.frame0, scene.frame1, block_size=4)


def test_stereo_penalty_is_checked_and_smooths():
    scene = world.render_scene(0, 2)
    with pytest.raises(ValueError, match="penalty"):
        stereo.motion_stereo(scene.frame0, scene.frame1, penalty=-1.0)
    rough = stereo.motion_stereo(scene.frame0, scene.frame1, max_disparity=32, penalty=1.0)
    smooth = stereo.motion_stereo(scene.frame0, scene.frame1, max_disparity=32, penalty=64.0)
    roughness = lambda d: np.nanmean(np.abs(np.diff(1.0 / d, axis=1)))  # noqa: E731
    assert roughness(smooth) < roughness(rough)


def test_a_pipeline_result_already_computed_gives_the_same_depth():
    scene = world.render_scene(world.HELD_OUT_SEED, 1)
    result = classical.run_pipeline(scene.frame0, scene.frame1, ratio=0.7)
    again = stereo.motion_stereo(scene.frame0, scene.frame1, result=result)
    assert np.array_equal(again, stereo.motion_stereo(scene.frame0, scene.frame1, ratio=0.7))
    with pytest.raises(TypeError, match="without pipeline parameters"):
        stereo.motion_stereo(scene.frame0, scene.frame1, result=result, ratio=0.7)
    with pytest.raises(TypeError, match="PipelineResult"):
        stereo.motion_stereo(scene.frame0, scene.frame1, result=scene.depth)
