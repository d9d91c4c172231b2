"""Tests of depthlab.experiments.studies: the sweep, the learned descriptor's curve, and their
caching."""
import pathlib

import numpy as np
import pytest
import torch

from depthlab import experiments, features, learned, parallel
from depthlab.experiments import studies

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"


def test_evaluation_scores_every_scene():
    evaluation = experiments.evaluate_classical(experiments.test_scenes(4), progress=False)
    assert len(evaluation.classical) == len(evaluation.constant) == 4
    assert evaluation.seconds_per_pair.shape == (4,)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="batch"):
        experiments.evaluate_classical([1, 2])
    with pytest.raises(ValueError, match="n_scenes"):
        experiments.test_scenes(0)


@pytest.mark.slow
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


def test_sweep_refuses_bad_arguments():
    with pytest.raises(ValueError, match="increasing"):
        experiments.sweep(sizes=(64, 16))
    with pytest.raises(ValueError, match="seeds"):
        experiments.sweep(seeds=())
    with pytest.raises(TypeError, match="config"):
        experiments.sweep(config={"steps": 1})


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
