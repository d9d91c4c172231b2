"""Tests of depthlab.learned: data, determinism, prediction, persistence and input checks."""
import numpy as np
import pytest
import torch

from depthlab import classical, learned, world

QUICK = learned.TrainConfig(steps=12, batch=4, crop=(32, 48))


@pytest.fixture(scope="module")
def model():
    return learned.train(8, QUICK, progress=False)


def test_the_loss_ignores_each_samples_scale_like_the_metrics():
    target = torch.rand(3, 1, 8, 8) * 5 + 1
    assert learned.scale_invariant_loss(target, target) < 1e-6
    scaled = target * torch.tensor([0.5, 2.0, 7.0]).view(3, 1, 1, 1)
    assert learned.scale_invariant_loss(scaled, target) < 1e-6
    noisy = target * (1 + 0.1 * torch.randn_like(target)).clamp_min(0.5)
    assert learned.scale_invariant_loss(noisy, target) > 0.01


def test_larger_training_sets_contain_the_smaller_ones():
    small, large = learned.SceneDataset(4), learned.SceneDataset(9)
    frames, disparity = small[3]
    assert torch.equal(frames, large[3][0]) and torch.equal(disparity, large[3][1])
    assert frames.shape == (2, 64, 96) and disparity.shape == (1, 64, 96)
    scene = world.render_scene(learned.TRAIN_SEED, 3)
    assert np.allclose(disparity[0].numpy(), scene.disparity)


def test_two_identical_runs_give_bit_identical_weights(model):
    again = learned.train(8, QUICK, progress=False)
    for a, b in zip(model.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(model.losses, again.losses)
    other = learned.train(8, learned.TrainConfig(steps=12, batch=4, crop=(32, 48), seed=1),
                          progress=False)
    assert not np.array_equal(model.losses, other.losses)


def test_training_lowers_the_loss_below_that_of_a_constant_guess():
    trained = learned.train(16, learned.TrainConfig(steps=150, batch=8, crop=(32, 48)),
                            progress=False)
    data = learned.SceneDataset(16)
    constant = learned.scale_invariant_loss(torch.ones_like(data.disparity), data.disparity)
    assert trained.losses[-20:].mean() < 0.85 * float(constant)
    assert trained.losses[-20:].mean() < 0.85 * trained.losses[:20].mean()


def test_prediction_has_the_form_of_the_classical_estimate(model):
    scene = world.render_scene(world.HELD_OUT_SEED, 0)
    depth = learned.predict(model, scene.frame0, scene.frame1)
    reference = classical.estimate_depth(scene.frame0, scene.frame1)
    assert depth.shape == reference.shape and depth.dtype == reference.dtype
    assert np.isfinite(depth).all() and (depth > 0).all()


def test_odd_sizes_and_batches_give_the_same_predictions(model):
    scenes = world.render_scenes(world.HELD_OUT_SEED, range(3), world.WorldConfig(height=33,
                                                                                 width=47))
    batch = learned.predict_batch(model, scenes.frame0, scenes.frame1, batch=2)
    assert batch.shape == (3, 33, 47)
    single = learned.predict(model, scenes[2].frame0, scenes[2].frame1)
    assert np.allclose(batch[2], single, rtol=1e-5)


def test_save_and_load_round_trip(model, tmp_path):
    path = learned.save(model, tmp_path / "model.pt")
    loaded = learned.load(path)
    assert loaded.train_config == model.train_config and loaded.n_scenes == 8
    assert loaded.world_config == model.world_config
    scene = world.render_scene(world.HELD_OUT_SEED, 1)
    assert np.array_equal(learned.predict(model, scene.frame0, scene.frame1),
                          learned.predict(loaded, scene.frame0, scene.frame1))


def test_loading_a_foreign_file_is_refused(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a model saved"):
        learned.load(tmp_path / "junk.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a model saved"):
        learned.load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError):
        learned.load(tmp_path / "missing.pt")


def test_an_untrained_model_refuses_to_predict():
    scene = world.render_scene(0, 0)
    with pytest.raises(ValueError, match="untrained"):
        learned.predict(learned.untrained(), scene.frame0, scene.frame1)


def test_bad_frames_are_refused(model):
    frame = np.zeros((64, 96), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        learned.predict(model, frame, np.zeros((64, 90), np.float32))
    with pytest.raises(ValueError, match="frame0"):
        learned.predict(model, np.zeros((64, 96, 2), np.float32), frame)
    with pytest.raises(TypeError, match="frame1"):
        learned.predict(model, frame, np.zeros((64, 96), np.int64))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        learned.predict_batch(model, frame, frame)
    with pytest.raises(TypeError, match="DepthModel"):
        learned.predict("model", frame, frame)


@pytest.mark.parametrize("kwargs, error, word", [
    (dict(steps=0), ValueError, "steps"),
    (dict(crop=(33, 48)), ValueError, "even"),
    (dict(crop=[32, 48]), TypeError, "crop"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(batch=2.5), TypeError, "batch"),
])
def test_bad_training_configurations_are_refused(kwargs, error, word):
    with pytest.raises(error, match=word):
        learned.TrainConfig(**kwargs)


def test_bad_training_arguments_are_refused():
    with pytest.raises(ValueError, match="n_scenes"):
        learned.train(0, QUICK, progress=False)
    with pytest.raises(ValueError, match="larger than the scenes"):
        learned.train(2, learned.TrainConfig(steps=1, crop=(96, 96)), progress=False)
    with pytest.raises(TypeError, match="TrainConfig"):
        learned.train(2, {"steps": 1}, progress=False)
    with pytest.raises(ValueError, match="radius"):
        learned.ModelConfig(radius=0)
