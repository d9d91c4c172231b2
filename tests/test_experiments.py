"""Tests of depthlab.experiments and its command line."""
import json
import pathlib
import subprocess
import sys

import pytest

from depthlab import experiments

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def test_the_command_line_prints_one_json_object():
    out = subprocess.run([sys.executable, "-m", "depthlab.experiments", "classical",
                          "--scenes", "12", "--json"], cwd=BOOK, capture_output=True,
                         text=True, check=True).stdout
    summary = json.loads(out)
    for key in ("absrel", "delta1", "ms_per_pair", "constant_absrel", "constant_delta1"):
        assert isinstance(summary[key], float)
    assert summary["scenes"] == 12 and summary["ms_per_pair"] > 0


def test_the_command_line_refuses_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "classical",
                             "--scenes", "0"], cwd=BOOK, capture_output=True, text=True)
    assert result.returncode == 2 and "--scenes" in result.stderr


def test_evaluation_scores_every_scene():
    evaluation = experiments.evaluate_classical(experiments.test_scenes(4), progress=False)
    assert len(evaluation.classical) == len(evaluation.constant) == 4
    assert evaluation.seconds_per_pair.shape == (4,)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="batch"):
        experiments.evaluate_classical([1, 2])
    with pytest.raises(ValueError, match="n_scenes"):
        experiments.test_scenes(0)
