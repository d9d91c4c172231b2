"""Tests of depthlab.experiments and its command line."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from depthlab import cache, experiments, features, learned, parallel, world
from depthlab.experiments import studies

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


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


def test_the_command_line_refuses_bad_arguments():
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "classical",
                             "--scenes", "0"], cwd=BOOK, capture_output=True, text=True)
    assert result.returncode == 2 and "--scenes" in result.stderr
    result = subprocess.run([sys.executable, "-m", "depthlab.experiments", "learned",
                             "--recipe", "fastest"], cwd=BOOK, capture_output=True, text=True)
    assert result.returncode == 2 and "--recipe" in result.stderr


def test_evaluation_scores_every_scene():
    evaluation = experiments.evaluate_classical(experiments.test_scenes(4), progress=False)
    assert len(evaluation.classical) == len(evaluation.constant) == 4
    assert evaluation.seconds_per_pair.shape == (4,)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="batch"):
        experiments.evaluate_classical([1, 2])
    with pytest.raises(ValueError, match="n_scenes"):
        experiments.test_scenes(0)


def _sweep(learned_delta1, learned_absrel, sizes=(16, 64, 256)):
    return experiments.Sweep(
        sizes=sizes, seeds=(0, 1),
        learned={"delta1": np.array(learned_delta1), "absrel": np.array(learned_absrel)},
        methods={"classical": {"delta1": 0.7, "absrel": 0.2},
                 "constant": {"delta1": 0.6, "absrel": 0.25}},
        world_config=world.WorldConfig(), n_test=10)


def test_crossover_interpolates_in_log_n_per_seed():
    sweep = _sweep([[0.6, 0.6], [0.7, 0.8], [0.8, 0.9]], [[0.3, 0.3], [0.25, 0.1], [0.1, 0.1]])
    # seed 0: delta1 equals the classical 0.7 at N = 64 and is above it only at 256, so
    # it crosses at 64 (the gap is 0 there); seed 1 crosses halfway from 16 to 64 in log N.
    assert sweep.crossover("delta1") == pytest.approx([64, 32])
    # absrel: seed 0 falls from 0.25 to 0.1 between 64 and 256, crossing 0.2 a third of the way.
    assert sweep.crossover("absrel")[0] == pytest.approx(64 * 4 ** (1 / 3))
    assert sweep.crossover("absrel")[1] == pytest.approx(16 * 4 ** (0.1 / 0.2))
    assert sweep.crossover("delta1", "constant") == pytest.approx([16, 16])


def test_no_crossover_is_nan_and_the_json_says_so():
    sweep = _sweep([[0.6, 0.6], [0.65, 0.8], [0.69, 0.9]], [[0.3] * 2] * 3)
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


def test_models_and_sweeps_are_cached_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    tiny = learned.TrainConfig(steps=3, batch=2, crop=(16, 16), threads=1)
    first = experiments.trained_model(6, seed=0, config=tiny, progress=False)
    assert len(list(tmp_path.glob("model-*.pt"))) == 1
    again = experiments.trained_model(6, seed=0, config=tiny, progress=False)
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    experiments.trained_model(6, seed=1, config=tiny, progress=False)
    assert len(list(tmp_path.glob("model-*.pt"))) == 2  # another seed is another model

    monkeypatch.setattr(studies, "FEATURE_CONFIG",
                        features.DescriptorTrainConfig(steps=2, scenes_per_step=1))
    result = experiments.sweep(sizes=(2, 6), seeds=(0, 1), n_test=3, config=tiny,
                               progress=False)
    assert result.learned["delta1"].shape == (2, 2)
    assert set(result.learned_features) == set(experiments.FEATURE_METRICS)
    assert result.learned_features["recall"].shape == (2, 2)
    assert {"precision", "recall"} <= set(result.methods["classical"])
    assert result.crossover("absrel", curve="learned_features").shape == (2,)
    assert len(list(tmp_path.glob("descriptor-*.pt"))) == 4
    assert "learned_features" in result.to_json()
    bare = experiments.sweep(sizes=(2, 6), seeds=(0, 1), n_test=3, config=tiny,
                             progress=False, with_features=False)
    assert bare.learned_features == {}
    with pytest.raises(ValueError, match="measured curves"):
        bare.crossover("absrel", curve="learned_features")
    assert set(result.methods) == {"classical", "motion_stereo", "constant"}
    assert len(list(tmp_path.glob("sweep-*.json"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached sweep must not train")

    monkeypatch.setattr(learned, "train", no_training)
    monkeypatch.setattr(features, "train", no_training)
    parallel.shutdown()
    cached = experiments.sweep(sizes=(2, 6), seeds=(0, 1), n_test=3, config=tiny,
                               progress=False)
    assert parallel._CLIENTS == {}  # a cached study starts no cluster
    assert np.array_equal(cached.learned["absrel"], result.learned["absrel"])
    assert np.array_equal(cached.learned_features["recall"], result.learned_features["recall"])


def test_code_version_depends_on_the_source(monkeypatch):
    version = cache.code_version()
    assert len(version) == 16
    cache.code_version.cache_clear()
    monkeypatch.setattr(cache, "CACHE_FORMAT", cache.CACHE_FORMAT + 1)
    assert cache.code_version() != version
    monkeypatch.undo()
    cache.code_version.cache_clear()
    assert cache.code_version() == version


def test_sweep_refuses_bad_arguments():
    with pytest.raises(ValueError, match="increasing"):
        experiments.sweep(sizes=(64, 16))
    with pytest.raises(ValueError, match="seeds"):
        experiments.sweep(seeds=())
    with pytest.raises(TypeError, match="config"):
        experiments.sweep(config={"steps": 1})


def test_the_data_study_fills_training_sets_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    tiny = learned.TrainConfig(steps=3, batch=2, crop=(16, 16), threads=1)
    trained_here, train = [], learned.train

    def counted(*args, **kwargs):
        trained_here.append(args)
        return train(*args, **kwargs)

    monkeypatch.setattr(learned, "train", counted)
    study = experiments.data_study(seeds=(0, 1), nominal=8, unique=(2, 4), label_noise=(0.5,),
                                   sizes=(2, 4, 8, 16), n_test=3, config=tiny, progress=False)
    assert study.nominal == 8 and list(study.copies) == [4.0, 2.0]
    assert study.flipped["absrel"].shape == (2,)
    for fill in experiments.FILLS:
        assert study.filled[fill]["absrel"].shape == (2, 2)
    assert study.noisy["delta1"].shape == (1, 2)
    assert np.array_equal(study.alone("absrel"), study.sweep.learned["absrel"][:2])
    assert np.array_equal(study.full("delta1"), study.sweep.learned["delta1"][2])
    # 2 fills x 2 unique counts + the flipped set + 1 label-noise rate, x 2 seeds, beside the
    # sweep's 4 x 2, each trained once, on the workers (not in this process)
    assert len(list(tmp_path.glob("model-*.pt"))) == 6 * 2 + 4 * 2
    assert len(study.tasks) == 6 * 2 and len(study.sweep.tasks) == 4 * 2
    assert trained_here == []
    out = study.to_json()
    assert set(out["variants"]) == {"unique_nominal", "unique_alone", "copies", "augmented"}
    assert np.shape(out["variants"]["copies"]["delta1"]) == (2, 2)

    monkeypatch.setattr(learned, "train", lambda *a, **k: pytest.fail("cached: no training"))
    again = experiments.data_study(seeds=(0, 1), nominal=8, unique=(2, 4), label_noise=(0.5,),
                                   sizes=(2, 4, 8, 16), n_test=3, config=tiny, progress=False)
    assert np.array_equal(again.filled["copies"]["absrel"], study.filled["copies"]["absrel"])


def test_the_data_study_refuses_bad_arguments():
    with pytest.raises(ValueError, match="unique"):
        experiments.data_study(unique=(100,))
    with pytest.raises(ValueError, match="unique"):
        experiments.data_study(unique=(experiments.DATA_NOMINAL,))
    with pytest.raises(ValueError, match="nominal"):
        experiments.data_study(nominal=1000)
    with pytest.raises(ValueError, match="label_noise"):
        experiments.data_study(label_noise=(0.0,))
    with pytest.raises(ValueError, match="label_noise"):
        experiments.data_study(label_noise=(1.5,))


def test_the_duplicates_command_prints_the_study_as_json(monkeypatch, capsys):
    sweep = _sweep([[0.6, 0.6], [0.75, 0.8], [0.8, 0.9]], [[0.3, 0.3], [0.15, 0.1], [0.1, 0.1]])
    study = experiments.DataStudy(
        sweep, 256, (16,),
        {f: {"absrel": np.array([[0.3, 0.31]]), "delta1": np.array([[0.6, 0.6]])}
         for f in experiments.FILLS},
        {"absrel": np.array([0.09, 0.09]), "delta1": np.array([0.85, 0.9])},
        (0.5,), {"absrel": np.array([[0.2, 0.2]]), "delta1": np.array([[0.7, 0.7]])})
    monkeypatch.setattr(studies, "data_study", lambda **kwargs: study)
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


def test_a_descriptor_is_cached_and_zero_scenes_is_the_untrained_network(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    tiny = features.DescriptorTrainConfig(steps=2, scenes_per_step=1)
    first = experiments.trained_descriptor(3, seed=0, config=tiny, progress=False)
    again = experiments.trained_descriptor(3, seed=0, config=tiny, progress=False)
    assert len(list(tmp_path.glob("descriptor-*.pt"))) == 1
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    assert experiments.trained_descriptor(0, seed=1).train_config is None
    with pytest.raises(TypeError, match="DescriptorTrainConfig"):
        experiments.trained_descriptor(3, config=learned.TrainConfig())


def test_classical_runs_are_cached_by_their_frames_and_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    scenes = experiments.test_scenes(3)
    first = experiments.evaluate_classical(scenes, progress=False, ratio=0.7)
    entries = sorted(tmp_path.glob("classical-*.npz"))
    again = experiments.evaluate_classical(scenes, progress=False, ratio=0.7)
    assert sorted(tmp_path.glob("classical-*.npz")) == entries and len(entries) == 1
    assert np.array_equal(first.depth, again.depth)
    assert np.array_equal(first.seconds_per_pair, again.seconds_per_pair)
    assert first.classical == again.classical and first.constant == again.constant
    experiments.evaluate_classical(scenes, progress=False)  # other parameters: another entry
    experiments.evaluate_classical(experiments.test_scenes(2), progress=False, ratio=0.7)
    assert len(list(tmp_path.glob("classical-*.npz"))) == 3
    with pytest.raises(TypeError, match="JSON"):
        experiments.evaluate_classical(scenes, progress=False, descriptor=features.untrained())


def test_pipeline_scores_are_cached_by_scenes_descriptor_and_parameters(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    scenes = experiments.test_scenes(2)
    sift = experiments.pipeline_scores(scenes)
    assert sift == studies._pipeline_scores(scenes)  # the cache returns what was computed
    assert experiments.pipeline_scores(scenes) == sift
    assert len(list(tmp_path.glob("pipeline-*.json"))) == 1
    for seed in (0, 1):  # each descriptor's weights name an entry of their own
        experiments.pipeline_scores(scenes, features.untrained(seed=seed))
    experiments.pipeline_scores(scenes, ratio=0.7)
    assert len(list(tmp_path.glob("pipeline-*.json"))) == 4
    with pytest.raises(TypeError, match="descriptor"):
        experiments.pipeline_scores(scenes, "sift")
    with pytest.raises(TypeError, match="batch"):
        experiments.pipeline_scores(scenes[0])


def test_array_digest_depends_on_values_shape_and_type():
    a = np.arange(6, dtype=np.float32)
    assert cache.array_digest(a) == cache.array_digest(a.copy())
    assert cache.array_digest(a) != cache.array_digest(a.reshape(2, 3))
    assert cache.array_digest(a) != cache.array_digest(a.astype(np.float64))
    assert cache.array_digest(a) != cache.array_digest(a + 1)
    assert cache.array_digest(a, a) != cache.array_digest(a)


def test_cache_writes_are_flushed_and_stale_temporary_files_removed(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(
        f"/proc/self/fd/{fd}")), real_fsync(fd)))
    target = tmp_path / "entry.json"
    cache.write_atomic(target, lambda path: path.write_text("{}"))
    assert target.read_text() == "{}"
    assert synced[-1] == str(tmp_path) and any(p.endswith(".partial") for p in synced)
    assert not list(tmp_path.glob("*.partial"))
    gone = tmp_path / "entry.json.999999999.partial"  # its process cannot be running
    running = tmp_path / f"entry.json.{os.getpid()}.partial"
    foreign = tmp_path / "notes.partial"  # not a temporary file of this package
    for path in (gone, running, foreign):
        path.write_text("half")
    assert cache.remove_stale(tmp_path) == [gone]
    assert running.exists() and foreign.exists()
    assert cache.remove_stale(tmp_path, prefix="other") == []
