"""Tests of depthlab.learned: data, determinism, prediction, persistence and input checks."""
import numpy as np
import pytest
import torch

from depthlab import classical, learned, world
from depthlab.learned import training

QUICK = learned.TrainConfig(steps=12, batch=4, crop=(32, 48))


@pytest.fixture(scope="module")
def model():
    return learned.train(8, config=QUICK, progress=False)


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
    scene = world.render_scene(world.TRAIN_SEED, 3)
    assert np.allclose(disparity[0].numpy(), scene.disparity)


def test_two_identical_runs_give_bit_identical_weights(model):
    again = learned.train(8, config=QUICK, progress=False)
    for a, b in zip(model.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(model.losses, again.losses)
    other = learned.train(8, config=learned.TrainConfig(steps=12, batch=4, crop=(32, 48), seed=1),
                          progress=False)
    assert not np.array_equal(model.losses, other.losses)


def test_training_lowers_the_loss_below_that_of_a_constant_guess():
    trained = learned.train(16, config=learned.TrainConfig(steps=150, batch=8, crop=(32, 48)),
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
    assert loaded.data_config == model.data_config == learned.DataConfig()
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
        learned.train(0, config=QUICK, progress=False)
    with pytest.raises(ValueError, match="larger than the scenes"):
        learned.train(2, config=learned.TrainConfig(steps=1, crop=(96, 96)), progress=False)
    with pytest.raises(TypeError, match="TrainConfig"):
        learned.train(2, config={"steps": 1}, progress=False)
    with pytest.raises(ValueError, match="radius"):
        learned.ModelConfig(radius=0)


def test_copies_repeat_the_unique_scenes_in_order():
    data = learned.SceneDataset(10, data=learned.DataConfig(unique=4))
    assert len(data) == 10 and len(data.frames) == 4
    for i in range(10):
        assert torch.equal(data[i][0], data.frames[i % 4])
        assert torch.equal(data[i][1], data.disparity[i % 4])


def test_augmented_repeats_flip_frames_and_label_together():
    data = learned.SceneDataset(12, data=learned.DataConfig(unique=2, augment=True))
    frames, disparity = data[0]
    for repeat, axes in ((1, [2]), (2, [1]), (3, [1, 2])):
        flipped, label = data[2 * repeat]
        assert torch.equal(flipped, frames.flip(axes)) and torch.equal(label, disparity.flip(axes))
    noisy, label = data[8]  # the fifth repeat: no flip, fresh sensor noise
    assert torch.equal(label, disparity) and not torch.equal(noisy, frames)
    assert 0.5 * data.noise < float((noisy - frames).std()) < 2 * data.noise
    assert torch.equal(noisy, data[8][0])  # the same noise each time the item is drawn


def test_label_noise_gives_a_share_of_items_another_scenes_label():
    data = learned.SceneDataset(40, data=learned.DataConfig(label_noise=0.25))
    wrong = [i for i in range(40) if not torch.equal(data[i][1], data.disparity[i])]
    assert len(wrong) == 10
    assert all(torch.equal(data[i][0], data.frames[i]) for i in wrong)  # frames are right


def test_bad_data_configurations_are_refused():
    with pytest.raises(ValueError, match="unique"):
        learned.SceneDataset(4, data=learned.DataConfig(unique=5))
    with pytest.raises(ValueError, match="label_noise"):
        learned.DataConfig(label_noise=1.2)
    with pytest.raises(TypeError, match="augment"):
        learned.DataConfig(augment="yes")
    with pytest.raises(TypeError, match="data"):
        learned.train(4, data={"unique": 2})


def test_fit_fine_tunes_a_copy_on_given_scenes(model):
    scenes = world.render_scenes(world.HELD_OUT_SEED, range(6))
    dataset = learned.SceneDataset.of(scenes[:4], scenes[4:])
    assert len(dataset) == 6
    assert torch.equal(dataset[5][0][0], torch.from_numpy(scenes.frame0[5]))
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    tuned = learned.fit(model, dataset, config=learned.TrainConfig(steps=3, batch=2, crop=(32, 48)),
                        progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.net.state_dict().items())
    assert not all(torch.equal(before[k], v) for k, v in tuned.net.state_dict().items())
    assert tuned.n_scenes == 6 and len(tuned.losses) == 3
    with pytest.raises(TypeError, match="dataset"):
        learned.fit(model, scenes)
    with pytest.raises(TypeError, match="batches"):
        learned.SceneDataset.of()


def test_the_search_range_covers_the_largest_disparity_of_the_world():
    for config in (world.WorldConfig(), world.WorldConfig(baseline=(0.3, 0.6), width=128)):
        model_config = learned.ModelConfig.for_world(config)
        assert model_config.search_range >= config.max_disparity
        assert model_config.search_range < config.max_disparity + 4
    assert learned.ModelConfig().search_range == 8  # the first edition's, not enough
    assert learned.ModelConfig().search_range < world.WorldConfig().max_disparity
    with pytest.raises(TypeError, match="WorldConfig"):
        learned.ModelConfig.for_world("photos")


def test_the_coarse_volume_sees_displacements_beyond_the_fine_one():
    model = learned.untrained(learned.ModelConfig(coarse_radius=6))
    frames = torch.rand(2, 2, 64, 96)
    outputs = model.net.front(frames)
    assert len(outputs) == 5 and outputs[3].shape == (2, 13 * 13, 16, 24)
    assert model.net(frames).shape == (2, 1, 64, 96)
    assert learned.ModelConfig(coarse_radius=6).search_range == 24


@pytest.mark.slow
def test_early_stopping_keeps_the_best_check_and_reports_steps_and_seconds():
    config = learned.TrainConfig(steps=400, batch=4, crop=None, flips=True, patience=1,
                                 check_every=40)
    validation = world.render_scenes(world.VALIDATION_SEED, range(6))
    model = learned.train(4, config=config, progress=False, validation=validation)
    assert model.steps == len(model.losses) <= 400 and model.seconds > 0
    assert model.checks.shape[1] == 2 and model.checks[-1, 0] == model.steps
    best = model.checks[model.checks[:, 0] == model.best_step, 1]
    assert len(best) == 1 and best[0] == model.checks[:, 1].min()
    if model.steps < 400:  # stopped: the last check did not improve on the best
        assert model.checks[-1, 1] > best[0]
    with pytest.raises(ValueError, match="patience"):
        learned.train(4, config=config, progress=False)
    with pytest.raises(ValueError, match="patience"):
        learned.train(4, config=QUICK, progress=False, validation=validation)


def test_random_flips_change_the_run_and_keep_labels_aligned():
    flipped = learned.train(8, config=learned.TrainConfig(steps=12, batch=4, crop=(32, 48),
                                                   flips=True), progress=False)
    plain = learned.train(8, config=QUICK, progress=False)
    assert not np.array_equal(flipped.losses, plain.losses)
    frames = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6).repeat(8, 1, 1, 1)
    target = frames[:, :1].clone()
    out, label = training._flip(frames, target, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :1], label)  # the label moved with frame 0
    assert len({tuple(o[0, 0, :2].tolist()) for o in out}) > 1  # not all items alike


def test_each_stream_draws_its_own_scenes_and_the_monocular_control_sees_frame0_twice():
    zero = learned.SceneDataset(3)
    other = learned.SceneDataset(3, data=learned.DataConfig(stream=7))
    assert not torch.equal(zero.frames, other.frames)
    assert np.allclose(other.disparity[1, 0].numpy(), world.render_scene(7, 1).disparity)
    mono = learned.SceneDataset(3, data=learned.DataConfig(monocular=True))
    frames, _ = mono[2]
    assert torch.equal(frames[0], frames[1])
    model = learned.train(3, config=QUICK, progress=False, data=learned.DataConfig(monocular=True))
    scene = world.render_scene(world.HELD_OUT_SEED, 0)
    noise = np.random.default_rng(0).random(scene.frame1.shape).astype(np.float32)
    assert np.array_equal(learned.predict(model, scene.frame0, scene.frame1),
                          learned.predict(model, scene.frame0, noise))
    with pytest.raises(TypeError, match="monocular"):
        learned.DataConfig(monocular=1)


def test_a_model_saved_with_its_training_record_loads_it_back(tmp_path):
    validation = world.render_scenes(world.VALIDATION_SEED, range(4))
    config = learned.TrainConfig(steps=20, batch=2, crop=None, patience=1, check_every=10)
    model = learned.train(2, config=config, model_config=learned.ModelConfig(coarse_radius=2),
                          progress=False,
                          validation=validation)
    loaded = learned.load(learned.save(model, tmp_path / "m.pt"))
    assert loaded.model_config.coarse_radius == 2 and loaded.best_step == model.best_step
    assert np.array_equal(loaded.checks, model.checks) and loaded.seconds == model.seconds


def test_the_epipolar_search_compares_displacements_along_the_rows_only():
    config = learned.ModelConfig(radius=5, search="epipolar")
    assert config.displacements == 11 and learned.ModelConfig(radius=5).displacements == 121
    assert config.search_range == 10
    net = learned.untrained(config).net
    frames = torch.rand(2, 2, 32, 48)
    volume, scene, frame0 = net.front(frames)
    assert volume.shape == (2, 11, 16, 24) and scene.shape == (2, 11, 1, 1)
    assert net(frames).shape == (2, 1, 32, 48)
    # Frame 1 shifted left by 6 px (3 at half resolution) peaks at displacement -3.
    image = torch.rand(1, 1, 32, 64)
    shifted = torch.cat([image[..., :48], image[..., 6:54]], 1)
    _, scene, _ = net.front(shifted)
    assert int(scene[0, :, 0, 0].argmax()) == 5 - 3
    wide = learned.ModelConfig.for_world(world.WORLDS["wide"], search="epipolar")
    assert wide.search_range >= world.WORLDS["wide"].max_disparity and wide.coarse_radius == 0


@pytest.mark.parametrize("kwargs, error, word", [
    ({"search": "1d"}, ValueError, "search"),
    ({"radius": 9}, ValueError, "radius"),
    ({"radius": 33, "search": "epipolar"}, ValueError, "radius"),
    ({"coarse_radius": 2, "search": "epipolar"}, ValueError, "coarse_radius"),
])
def test_bad_architectures_are_refused(kwargs, error, word):
    with pytest.raises(error, match=word):
        learned.ModelConfig(**kwargs)
