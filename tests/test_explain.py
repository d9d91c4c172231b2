"""Tests of depthlab.explain: evidence, uncertainty, saliency and sparsification."""
import numpy as np
import pytest

from depthlab import classical, explain, learned, world

QUICK = learned.TrainConfig(steps=12, batch=4, crop=(32, 48))


@pytest.fixture(scope="module")
def model():
    return learned.train(8, config=QUICK, progress=False)


@pytest.fixture(scope="module")
def scenes():
    return world.render_scenes(world.HELD_OUT_SEED, range(3))


def test_evidence_is_zero_distance_at_the_inliers_and_grows_away_from_them(scenes):
    result = classical.run_pipeline(scenes.frame0[0], scenes.frame1[0])
    evidence = explain.classical_evidence(result, radius=5)
    x, y = np.round(result.points[0]).astype(int)
    assert evidence.distance[y, x] == 0 and evidence.support[y, x] >= 1
    assert evidence.distance.max() > 3
    assert np.array_equal(evidence.distance, explain.match_distance(result))
    assert evidence.support.sum() >= len(result.points)


def test_no_reliable_estimate_means_no_evidence_anywhere():
    flat = np.full((32, 48), 0.5, np.float32)
    evidence = explain.classical_evidence(classical.run_pipeline(flat, flat))
    assert np.isinf(evidence.distance).all() and not evidence.support.any()


def test_uncertainty_is_the_spread_over_flips_and_batches_match_single_pairs(model, scenes):
    depth, spread = explain.learned_uncertainty(model, scenes.frame0, scenes.frame1)
    assert depth.shape == spread.shape == scenes.depth.shape and (spread >= 0).all()
    assert np.allclose(depth, learned.predict_batch(model, scenes.frame0, scenes.frame1))
    one_depth, one_spread = explain.learned_uncertainty(model, scenes.frame0[1],
                                                        scenes.frame1[1])
    assert np.allclose(one_depth, depth[1]) and np.allclose(one_spread, spread[1], atol=1e-6)


def test_saliency_is_a_gradient_map_of_both_frames_near_the_pixel(model, scenes):
    grad = explain.saliency(model, scenes.frame0[0], scenes.frame1[0], (32, 48))
    assert grad.shape == (2, 64, 96) and (grad >= 0).all() and grad.sum() > 0
    assert grad[:, :, :10].sum() < grad[:, :, 38:58].sum()  # larger near the pixel
    with pytest.raises(ValueError, match="outside"):
        explain.saliency(model, scenes.frame0[0], scenes.frame1[0], (64, 0))
    with pytest.raises(TypeError, match="row, column"):
        explain.saliency(model, scenes.frame0[0], scenes.frame1[0], 5)
    with pytest.raises(TypeError, match="trained"):
        explain.saliency(learned.untrained(), scenes.frame0[0], scenes.frame1[0], (1, 1))


def test_sparsification_of_a_perfect_ranking_is_the_oracle_and_a_bad_one_rises():
    error = np.arange(100, dtype=float).reshape(10, 10)
    oracle = explain.sparsification(error, -error)
    assert oracle[0] == pytest.approx(error.mean()) and np.all(np.diff(oracle) < 0)
    assert explain.ause(oracle, oracle) == 0
    inverted = explain.sparsification(error, error)
    assert np.all(np.diff(inverted) > 0) and explain.ause(inverted, oracle) > 0
    batch = explain.sparsification(np.stack([error, error]), np.stack([-error, error]))
    assert batch.shape == (2, len(explain.FRACTIONS))
    assert np.allclose(batch[0], oracle) and np.allclose(batch[1], inverted)


def test_pixel_error_is_median_scaled_and_nan_where_invalid():
    truth = np.linspace(1, 2, 64 * 96).reshape(64, 96)
    error = explain.pixel_error(3.0 * truth, np.where(truth > 1.9, np.inf, truth))
    assert np.nanmax(error) < 1e-9 and np.isnan(error[truth > 1.9]).all()


def test_bad_input_is_refused_with_what_was_expected():
    with pytest.raises(TypeError, match="PipelineResult"):
        explain.classical_evidence("result")
    with pytest.raises(ValueError, match="share one"):
        explain.sparsification(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="fractions"):
        explain.sparsification(np.zeros((4, 4)), np.zeros((4, 4)), [0.5, 1.0])
    with pytest.raises(ValueError, match="no valid pixel"):
        explain.sparsification(np.full((4, 4), np.nan), np.zeros((4, 4)))
