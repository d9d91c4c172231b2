"""Tests of depthlab.experiments.costs: the price list of labelled data."""
import pathlib

import numpy as np
import pytest

from depthlab import experiments

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def test_the_cost_model_prices_labelled_scenes():
    prices = experiments.CostModel(collect=1.0, label=3.0, engineering=100.0)
    assert prices.per_scene == 4.0
    assert prices.learned_cost(25) == 100.0 and prices.scenes(100.0) == 25.0
    # validation labels are charged to the side that uses them
    assert prices.learned_cost(25, validation=5) == 120.0 and prices.scenes(120.0, 5) == 25.0
    assert prices.classical_cost(validation=10) == 140.0
    # 100 = (n + 5 - 10) * (1 + label) at label = 100 / 20 - 1 = 4
    assert prices.label_break_even(25, learned_validation=5, classical_validation=10) == 4.0
    assert prices.label_break_even(5, learned_validation=5, classical_validation=10) == np.inf
    with pytest.raises(ValueError, match="validation"):
        prices.learned_cost(25, validation=-1)
    with pytest.raises(ValueError, match="label"):
        experiments.CostModel(label=-1.0)
    with pytest.raises(ValueError, match="not free"):
        experiments.CostModel(collect=0.0, label=0.0)
    with pytest.raises(TypeError, match="engineering"):
        experiments.CostModel(engineering="a lot")
