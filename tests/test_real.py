"""Tests of depthlab.real: the Middlebury pair and the classical pipeline on it."""
import numpy as np
import pytest

from depthlab import classical, metrics, real


def test_motorcycle_at_a_quarter_scale():
    pair = real.load_motorcycle(0.25)
    assert pair.frame0.shape == pair.frame1.shape == pair.depth.shape == (125, 185)
    assert pair.frame0.dtype == np.float32 and 0 <= pair.frame0.min() <= pair.frame0.max() <= 1
    assert 0.5 < pair.valid.mean() < 1.0
    assert np.isinf(pair.depth[~pair.valid]).all() and np.isnan(pair.disparity[~pair.valid]).all()
    assert np.allclose(pair.depth[pair.valid],
                       pair.focal * pair.baseline / pair.disparity[pair.valid], rtol=1e-5)
    assert 1.0 < pair.depth[pair.valid].min() < pair.depth[pair.valid].max() < 10.0  # metres


def test_unknown_footprints_stay_invalid_after_downscaling():
    full, small = real.load_motorcycle(1.0), real.load_motorcycle(0.5)
    # Every valid 2x2 block of the full pair contains only known pixels.
    h, w = small.valid.shape
    blocks = full.valid[:2 * h, :2 * w].reshape(h, 2, w, 2).all(axis=(1, 3))
    assert not (small.valid & ~blocks).any()


def test_the_classical_pipeline_on_the_real_pair():
    pair = real.load_motorcycle(0.25)
    depth = classical.estimate_depth(pair.frame0, pair.frame1)
    assert metrics.depth_metrics(depth, pair.depth).absrel <= 0.16


@pytest.mark.parametrize("scale, error", [(0.0, ValueError), (1.5, ValueError),
                                          (0.01, ValueError), ("half", TypeError)])
def test_bad_scales_are_refused(scale, error):
    with pytest.raises(error, match="scale"):
        real.load_motorcycle(scale)
