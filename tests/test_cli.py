"""Tests of depthlab.experiments.cli: the studies' command line."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from depthlab import experiments
from depthlab.experiments import datastudy, studies

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


@pytest.mark.slow
def test_the_command_line_prints_one_json_object():
    out = subprocess.run([sys.executable, "-m", "depthlab.experiments", "classical",
                          "--scenes", "12", "--json"], cwd=BOOK, capture_output=True,
                         text=True, check=True).stdout
    summary = json.loads(out)
    for key in ("absrel", "delta1", "ms_per_pair", "constant_absrel", "constant_delta1"):
        assert isinstance(summary[key], float)
    assert summary["scenes"] == 12 and summary["ms_per_pair"] > 0
    assert summary["split"] == "test"
    validation = json.loads(subprocess.run(
        [sys.executable, "-m", "depthlab.experiments", "classical", "--scenes", "12", "--split",
         "validation", "--json"], cwd=BOOK, capture_output=True, text=True, check=True).stdout)
    assert validation["split"] == "validation" and validation["absrel"] != summary["absrel"]


@pytest.mark.slow
def test_the_command_line_refuses_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "classical",
                             "--scenes", "0"], cwd=BOOK, capture_output=True, text=True)
    assert result.returncode == 2 and "--scenes" in result.stderr
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "learned",
                             "--recipe", "fastest"], cwd=BOOK, capture_output=True, text=True)
    assert result.returncode == 2 and "--recipe" in result.stderr


def test_the_duplicates_command_prints_the_study_as_json(monkeypatch, capsys, make_sweep):
    sweep = make_sweep([[0.6, 0.6], [0.75, 0.8], [0.8, 0.9]], [[0.3, 0.3], [0.15, 0.1], [0.1, 0.1]])
    study = experiments.DataStudy(
        sweep, 256, (16,),
        {f: {"absrel": np.array([[0.3, 0.31]]), "delta1": np.array([[0.6, 0.6]])}
         for f in experiments.FILLS},
        {"absrel": np.array([0.09, 0.09]), "delta1": np.array([0.85, 0.9])},
        (0.5,), {"absrel": np.array([[0.2, 0.2]]), "delta1": np.array([[0.7, 0.7]])})
    monkeypatch.setattr(datastudy, "data_study", lambda **kwargs: study)
    assert experiments.main(["duplicates", "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nominal"] == 256 and out["k"] == [16.0] and out["unique"] == [16]
    assert out["variants"]["unique_alone"]["absrel"] == [[0.3, 0.3]]
    assert out["variants"]["unique_nominal"]["delta1"] == [[0.8, 0.9]]
    assert out["nominal_flipped"]["delta1"] == [0.85, 0.9]
    assert out["label_noise"] == {"rates": [0.5], "absrel": [[0.2, 0.2]],
                                  "delta1": [[0.7, 0.7]]}
    assert experiments.main(["duplicates", "--seeds", "2"]) == 0
    text = capsys.readouterr().out
    assert "k = 16.0" in text and "256 scenes in their four flips: 0.090 0.090" in text
    assert "50% wrong labels: 0.200 0.200" in text


def test_the_features_command_prints_the_curve_as_json(monkeypatch, capsys):
    curve = experiments.FeatureCurve(
        (16, 64), (0, 1), {m: np.full((2, 2), 0.5) for m in experiments.FEATURE_METRICS},
        {m: np.full(2, 0.4) for m in experiments.FEATURE_METRICS},
        {m: 0.45 for m in experiments.FEATURE_METRICS})
    monkeypatch.setattr(studies, "feature_curve", lambda **kwargs: curve)
    assert experiments.main(["features", "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["learned_features"]["recall"] == [[0.5, 0.5], [0.5, 0.5]]
    assert out["untrained"]["precision"] == [0.4, 0.4] and out["sift"]["absrel"] == 0.45
    assert experiments.main(["features", "--seeds", "2"]) == 0
    assert "learned features,    64 scenes" in capsys.readouterr().out
