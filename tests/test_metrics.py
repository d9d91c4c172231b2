"""Tests of depthlab.metrics on hand-made inputs with known answers."""
import numpy as np
import pytest

from depthlab import metrics

GT = np.array([[1.0, 2.0], [4.0, 8.0]])


def test_perfect_prediction():
    m = metrics.depth_metrics(GT.copy(), GT)
    assert m.absrel == 0 and m.sqrel == 0 and m.rmse == 0 and m.rmse_log == 0
    assert m.delta1 == m.delta2 == m.delta3 == 1.0 and m.coverage == 1.0


def test_known_values_without_scaling():
    pred = np.array([[1.0, 2.0], [4.0, 10.0]])
    m = metrics.depth_metrics(pred, GT, median_scaling=False)
    assert m.absrel == pytest.approx(0.25 / 4)
    assert m.sqrel == pytest.approx((4.0 / 8.0) / 4)
    assert m.rmse == pytest.approx(1.0)
    assert m.rmse_log == pytest.approx(np.sqrt(np.log(1.25) ** 2 / 4))
    assert m.delta1 == pytest.approx(0.75)  # 10 / 8 = 1.25 is not < 1.25
    assert m.delta2 == 1.0 and m.scale == 1.0


def test_doubled_depth():
    raw = metrics.depth_metrics(2 * GT, GT, median_scaling=False)
    assert raw.absrel == pytest.approx(1.0)
    assert raw.rmse == pytest.approx(np.sqrt(np.mean(GT ** 2)))
    assert raw.rmse_log == pytest.approx(np.log(2.0))
    assert raw.delta1 == 0.0 and raw.delta2 == 0.0 and raw.delta3 == 0.0
    scaled = metrics.depth_metrics(2 * GT, GT)
    assert scaled.absrel == pytest.approx(0.0) and scaled.scale == pytest.approx(0.5)


def test_median_scaling_uses_the_median():
    pred = np.array([[1.0, 2.0], [4.0, 800.0]])  # one wild pixel
    m = metrics.depth_metrics(pred, GT)
    assert m.scale == pytest.approx(np.median(GT) / np.median(pred))
    assert m.delta1 == 0.75


def test_invalid_pixels_are_left_out():
    gt = np.array([[1.0, np.inf], [np.nan, 0.0], [-1.0, 2.0]])
    pred = np.array([[1.0, 5.0], [5.0, 5.0], [5.0, np.nan]])
    m = metrics.depth_metrics(pred, gt, median_scaling=False)
    assert m.absrel == 0.0 and m.coverage == pytest.approx(0.5)


def test_mask_restricts_the_pixels():
    pred = np.array([[1.0, 2.0], [4.0, 100.0]])
    mask = np.array([[True, True], [True, False]])
    assert metrics.depth_metrics(pred, GT, mask=mask).absrel == 0.0


def test_prediction_without_valid_pixels_scores_worst():
    m = metrics.depth_metrics(np.full_like(GT, np.nan), GT)
    assert m.absrel == np.inf and m.delta1 == 0.0 and m.coverage == 0.0


def test_mean_metrics_averages_per_image():
    a = metrics.depth_metrics(GT.copy(), GT)
    b = metrics.depth_metrics(2 * GT, GT, median_scaling=False)
    mean = metrics.mean_metrics([a, b])
    assert mean.absrel == pytest.approx(0.5) and mean.delta1 == pytest.approx(0.5)


def test_bad_pixel_rate():
    gt = np.array([[10.0, 20.0], [30.0, np.inf]])
    pred = np.array([[10.5, 22.0], [np.nan, 5.0]])
    assert metrics.bad_pixel_rate(pred, gt, threshold=1.0) == pytest.approx(2 / 3)
    assert metrics.bad_pixel_rate(pred, gt, threshold=3.0) == pytest.approx(1 / 3)


def test_correct_matches():
    flow = np.zeros((10, 12, 2), np.float32)
    flow[..., 0] = 2.0
    p0 = np.array([[3.0, 4.0], [5.5, 2.5]])
    p1 = p0 + np.array([[2.2, 0.1], [-1.0, 0.0]])
    assert metrics.correct_matches(p0, p1, flow).tolist() == [True, False]


@pytest.mark.parametrize("pred, gt, error, word", [
    (np.ones((2, 3)), np.ones((3, 2)), ValueError, "same shape"),
    (np.ones((2, 2, 1)), np.ones((2, 2, 1)), ValueError, "2-D"),
    (np.ones((2, 2), bool), np.ones((2, 2)), TypeError, "pred"),
    ([[1.0, 2.0]], np.ones((1, 2)), TypeError, "pred"),
    (np.ones((0, 0)), np.ones((0, 0)), ValueError, "empty"),
    (np.ones((2, 2)), np.full((2, 2), np.nan), ValueError, "no valid pixel"),
])
def test_depth_metrics_rejects_bad_input(pred, gt, error, word):
    with pytest.raises(error, match=word):
        metrics.depth_metrics(pred, gt)


def test_other_functions_reject_bad_input():
    with pytest.raises(ValueError, match="metrics"):
        metrics.mean_metrics([])
    with pytest.raises(TypeError, match="DepthMetrics"):
        metrics.mean_metrics([0.5])
    with pytest.raises(ValueError, match="threshold"):
        metrics.bad_pixel_rate(GT, GT, threshold=0.0)
    with pytest.raises(ValueError, match="mask"):
        metrics.depth_metrics(GT, GT, mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="points1"):
        metrics.correct_matches(np.zeros((2, 2)), np.zeros((3,)), np.zeros((4, 4, 2)))
