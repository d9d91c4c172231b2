"""Tests of depthlab.experiments.realpairs: the methods on the real pairs, and `score_pair`."""
import json

import numpy as np
import pytest

from depthlab import experiments, learned, real
from depthlab.experiments import realcurves, realpairs


def test_make_pair_builds_what_load_middlebury_loads():
    left, right, disparity = real._middlebury("cones")
    for scale in (1.0, 0.5):
        made = real.make_pair(left, right, disparity, scale=scale, name="cones")
        loaded = real.load_middlebury("cones", scale=scale)
        for field in ("frame0", "frame1", "depth", "disparity", "valid"):
            np.testing.assert_array_equal(getattr(made, field), getattr(loaded, field))
    uint8 = real.make_pair((255 * left).round().astype(np.uint8),
                           (255 * right).round().astype(np.uint8), disparity)
    np.testing.assert_allclose(uint8.frame0, real.load_middlebury("cones").frame0, atol=1e-6)


def test_make_pair_refuses_bad_input():
    left, right, disparity = real._middlebury("cones")
    with pytest.raises(ValueError, match="disparity"):
        real.make_pair(left, right, disparity[:-1])
    with pytest.raises(ValueError, match="same shape"):
        real.make_pair(left, right[:-1], disparity)
    with pytest.raises(TypeError, match="known"):
        real.make_pair(left, right, disparity, known=(disparity > 0).astype(int))
    with pytest.raises(ValueError, match="known"):
        real.make_pair(left, right, disparity, known=np.ones(left.shape, bool))
    with pytest.raises(ValueError, match="no pixel"):
        real.make_pair(left, right, np.zeros_like(disparity))
    with pytest.raises(TypeError, match="name"):
        real.make_pair(left, right, disparity, name=3)


@pytest.mark.parametrize("target", [12.0, 28.0])
def test_scaled_pair_brings_the_largest_disparity_to_the_target(target):
    for name in ("cones", "tsukuba", "motorcycle"):
        pair = real.load_real(name)
        small = realpairs.scaled_pair(pair, target)
        largest = float(np.nanmax(pair.disparity))
        if largest <= target:  # never enlarged
            assert small is pair
        else:
            assert np.nanmax(small.disparity) <= target + 1e-3
            assert np.nanmax(small.disparity) > 0.8 * target
    with pytest.raises(TypeError, match="pair"):
        realpairs.scaled_pair(np.zeros((8, 8)), 12.0)
    with pytest.raises(ValueError, match="target"):
        realpairs.scaled_pair(pair, 0.0)


def test_the_splits_are_disjoint_and_cover_every_pair():
    validation, test = (set(real.REAL_SPLITS[s]) for s in ("validation", "test"))
    assert not validation & test and validation | test == set(real.REAL_PAIRS)


def _fake_study():
    pairs = ("venus", "cones", "art")
    scores = {m: {metric: np.full((2 if m.startswith("learned") and m not in realpairs.ABLATIONS
                                   else 1, 3), value)
                  for metric, value in (("absrel", 0.1 * (k + 1)), ("delta1", 0.5),
                                        ("bad1", 0.2))}
              for k, m in enumerate(realpairs.REAL_METHODS)}
    settings = {m: {"target": 20.0} for m in realpairs.REAL_METHODS}
    synthetic = {kind: {metric: np.full((2, 4), 0.2) for metric in ("absrel", "delta1", "bad1")}
                 for kind in realpairs.LEARNED_KINDS}
    training = {kind: {"steps": [100, 200], "seconds": [1.0, 2.0]}
                for kind in realpairs.LEARNED_KINDS}
    return realpairs.RealStudy(pairs, scores, realpairs.RealTuning(settings, [], {}), (0, 1), 64,
                               synthetic, training)


def test_the_real_command_prints_the_study_as_json(monkeypatch, capsys):
    monkeypatch.setattr(realpairs, "real_study", lambda **kwargs: _fake_study())
    assert experiments.main(["real", "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pairs"] == ["venus", "cones", "art"] and out["seeds"] == [0, 1]
    assert set(out["methods"]) == set(realpairs.REAL_METHODS)
    learned_entry = out["methods"]["learned"]["absrel"]
    assert learned_entry["mean"] == pytest.approx(0.1)
    assert learned_entry["ci"] == pytest.approx([0.1, 0.1])
    assert learned_entry["per_pair"]["cones"] == pytest.approx(0.1)
    gap = out["gaps"]["learned - constant"]
    constant = 0.1 * (list(realpairs.REAL_METHODS).index("constant") + 1)
    assert gap["mean"] == pytest.approx(0.1 - constant) and gap["pairs_better"] == 3
    assert out["synthetic_test_scenes"]["learned_2d"]["absrel"]["mean"] == pytest.approx(0.2)
    assert out["training"]["learned"] == {"steps": [100, 200], "seconds": [1.0, 2.0]}
    assert experiments.main(["real", "--seeds", "2"]) == 0
    assert "3 real test pairs" in capsys.readouterr().out


def test_ablations_are_compared_on_the_seeds_both_trained_on():
    study = _fake_study()
    # the headline model's second seed is far off; an ablation has the first seed only
    study.scores["learned"]["absrel"] = np.array([[0.2, 0.2, 0.2], [0.9, 0.9, 0.9]])
    study.scores["learned_lighting"]["absrel"] = np.array([[0.3, 0.3, 0.3]])
    assert study.ci("learned_lighting", other="learned") == pytest.approx([0.1, 0.1])
    assert study.wins("learned", "learned_lighting") == 3
    # an untrained method's one row is compared with every seed
    constant = study.scores["constant"]["absrel"][0, 0]
    low, high = study.ci("learned", other="constant")
    assert low == pytest.approx(0.2 - constant) and high == pytest.approx(0.9 - constant)
    assert set(realpairs.ABLATIONS) < set(realpairs.LEARNED_KINDS)
    assert not {"learned", "learned_2d", "learned_reference"} & set(realpairs.ABLATIONS)
    assert realpairs._kind_seeds("learned_lighting", (0, 1, 2)) == (0,)
    assert realpairs._kind_seeds("learned_2d", (0, 1, 2)) == (0, 1, 2)


def test_score_pair_refuses_bad_input_before_any_training(monkeypatch):
    def no_training(**kwargs):
        raise AssertionError("trained before checking its input")

    monkeypatch.setattr(realpairs, "real_models", no_training)
    left, right, disparity = real._middlebury("cones")
    with pytest.raises(ValueError, match="disparity"):
        experiments.score_pair(left, right, disparity[:, :-1])
    with pytest.raises(TypeError, match="known"):
        experiments.score_pair(left, right, disparity, known="everywhere")
    with pytest.raises(ValueError, match="frame"):
        experiments.score_pair(left, right[None], disparity)


def test_score_pair_scores_every_method_as_the_study_does(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    config = learned.TrainConfig(steps=3, batch=2, crop=None, threads=1)
    tiny = learned.train(8, config=config, progress=False,
                         model_config=learned.ModelConfig(radius=3, hidden=8, context=4,
                                                          search="epipolar"),
                         world_config=realpairs.REAL_WORLD)
    models = {kind: [tiny] for kind in realpairs.LEARNED_KINDS}
    settings = {"classical": {"target": 20.0, "pipeline": {}},
                "motion_stereo": {"target": 12.0, "pipeline": {}, "stereo": {}},
                "constant": {}, **{kind: {"target": 20.0} for kind in realpairs.LEARNED_KINDS},
                "learned": {"target": 28.0}, "learned_finetuned": {"target": 28.0},
                "learned_selfsup": {"target": 28.0}}
    monkeypatch.setattr(realpairs, "real_models", lambda **kwargs: models)
    monkeypatch.setattr(realpairs, "tune_real", lambda *args, **kwargs:
                        realpairs.RealTuning(settings, [], {}))
    monkeypatch.setattr(realpairs, "_fine_tuned", lambda models, target, **kwargs: models)
    left, right, disparity = real._middlebury("cones")
    scores = experiments.score_pair(left, right, disparity)
    assert set(scores) == set(realpairs.REAL_METHODS)
    for method, values in scores.items():
        assert set(values) == {"absrel", "delta1", "bad1"}, method
        assert 0 <= values["absrel"] < 1 and 0 <= values["delta1"] <= 1 and 0 <= values["bad1"] <= 1
    # The same numbers as the study's for the same pair (cones is a test pair).
    pair = realpairs._report_pair("cones")
    for method in ("classical", "motion_stereo", "learned"):
        expected = realpairs._scores(realpairs._depth(method, settings[method], pair,
                                                      models.get(method, ())), pair)
        assert scores[method] == pytest.approx(expected), method
    assert scores["constant"]["absrel"] > scores["motion_stereo"]["absrel"]


def test_the_studies_refuse_bad_arguments_before_any_training(monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking its arguments")

    for module in (realpairs, realcurves):
        monkeypatch.setattr(module, "_train_runs", no_training)
    monkeypatch.setattr(realcurves, "real_models", no_training)
    with pytest.raises(ValueError, match="kinds"):
        experiments.real_models(kinds=("learned", "learned_3d"))
    with pytest.raises(ValueError, match="counts"):
        experiments.label_curve(counts=(0, 2, 1))
    with pytest.raises(ValueError, match="counts"):
        experiments.label_curve(counts=(0, 99))
    with pytest.raises(ValueError, match="sizes"):
        experiments.real_curve(sizes=(64,))
    with pytest.raises(ValueError, match="kind"):
        experiments.real_curve(kind="learned_reference")
    with pytest.raises(TypeError, match="seeds"):
        experiments.real_curve(seeds=("0",))
    with pytest.raises(ValueError, match="name"):
        experiments.pair_depths("books")  # reserved for an independent check: not shipped
