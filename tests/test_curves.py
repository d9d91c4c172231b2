"""Tests of depthlab.experiments.curves: the crossover of a learning curve and its power law."""
import pathlib

import numpy as np
import pytest

from depthlab import experiments

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def test_crossover_interpolates_in_log_n_per_seed(make_sweep):
    sweep = make_sweep([[0.6, 0.6], [0.7, 0.8], [0.8, 0.9]], [[0.3, 0.3], [0.25, 0.1], [0.1, 0.1]])
    # seed 0: delta1 equals the classical 0.7 at N = 64 and is above it only at 256, so
    # it crosses at 64 (the gap is 0 there); seed 1 crosses halfway from 16 to 64 in log N.
    assert sweep.crossover("delta1") == pytest.approx([64, 32])
    # absrel: seed 0 falls from 0.25 to 0.1 between 64 and 256, crossing 0.2 a third of the way.
    assert sweep.crossover("absrel")[0] == pytest.approx(64 * 4 ** (1 / 3))
    assert sweep.crossover("absrel")[1] == pytest.approx(16 * 4 ** (0.1 / 0.2))
    assert sweep.crossover("delta1", "constant") == pytest.approx([16, 16])


def test_no_crossover_is_nan_and_the_json_says_so(make_sweep):
    sweep = make_sweep([[0.6, 0.6], [0.65, 0.8], [0.69, 0.9]], [[0.3] * 2] * 3)
    assert np.isnan(sweep.crossover("delta1")[0]) and sweep.crossover("delta1")[1] < 64
    out = sweep.to_json()
    assert out["sizes"] == [16, 64, 256] and out["seeds"] == [0, 1]
    assert np.shape(out["learned"]["delta1"]) == np.shape(out["classical"]["absrel"]) == (3, 2)
    assert out["crossover_n"]["delta1"]["per_seed"][0] is None
    assert out["crossover_n"]["delta1"]["median"] is None
    with pytest.raises(ValueError, match="metric"):
        sweep.crossover("rmse")
    with pytest.raises(ValueError, match="method"):
        sweep.crossover("delta1", "oracle")


def test_power_law_fit_recovers_known_parameters():
    sizes = np.array([16, 35, 78, 172, 380, 838, 1851, 4096])
    errors = 2.0 * sizes ** -0.6 + 0.15
    fit = experiments.fit_power_law(sizes, np.stack([errors, errors], 1))
    assert (fit.alpha, fit.beta, fit.floor) == pytest.approx((2.0, -0.6, 0.15), rel=1e-3)
    assert fit.reaches(fit(1000.0)) == pytest.approx(1000.0)
    assert fit.reaches(0.1) == float("inf")  # below the floor: never
    with pytest.raises(ValueError, match="sizes"):
        experiments.fit_power_law([1, 2], [0.3, 0.2])
    with pytest.raises(ValueError, match="errors"):
        experiments.fit_power_law(sizes, errors[:-1])
