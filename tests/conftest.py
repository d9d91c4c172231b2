"""Fixtures shared by the unit tests."""
import numpy as np
import pytest

from depthlab import experiments, world


@pytest.fixture
def make_sweep():
    """Makes an `experiments.Sweep` of known learned scores (per size and seed) against fixed
    classical and constant scores, without training anything."""
    def make(learned_delta1, learned_absrel, sizes=(16, 64, 256)):
        return experiments.Sweep(
            sizes=sizes, seeds=(0, 1),
            learned={"delta1": np.array(learned_delta1), "absrel": np.array(learned_absrel)},
            methods={"classical": {"delta1": 0.7, "absrel": 0.2},
                     "constant": {"delta1": 0.6, "absrel": 0.25}},
            world_config=world.WorldConfig(), n_test=10)
    return make
