"""Tests of depthlab.features and of the classical pipeline with a learned descriptor."""
import numpy as np
import pytest
import torch

from depthlab import classical, features, world

TINY = features.DescriptorTrainConfig(steps=3, scenes_per_step=2)


@pytest.fixture(scope="module")
def scene():
    return world.render_scene(0, 0)


def test_patches_are_centred_on_the_points():
    image = torch.arange(64 * 96, dtype=torch.float32).reshape(64, 96)
    points = torch.tensor([[10.0, 20.0], [50.5, 30.0]])
    found = features.patches(image, points, 16)
    assert found.shape == (2, 1, 16, 16)
    # The four samples around the centre average to the image at the point.
    centre = found[:, 0, 7:9, 7:9].mean((1, 2))
    assert centre[0] == pytest.approx(float(image[20, 10]))
    assert centre[1] == pytest.approx(float(image[30, 50] + image[30, 51]) / 2)


def test_an_untrained_descriptor_gives_unit_vectors_and_is_seeded(scene):
    first, again = features.untrained(seed=1), features.untrained(seed=1)
    points = np.array([[20.0, 20.0], [40.0, 30.0], [70.5, 10.25]], np.float32)
    d = first(scene.frame0, points)
    assert d.shape == (3, features.DescriptorConfig().dims) and d.dtype == np.float32
    assert np.allclose(np.linalg.norm(d, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(d, again(scene.frame0, points))
    assert not np.array_equal(d, features.untrained(seed=2)(scene.frame0, points))
    assert first(scene.frame0, np.zeros((0, 2), np.float32)).shape == (0, d.shape[1])
    assert first.train_config is None and first.parameters > 0


def test_the_descriptor_refuses_bad_points(scene):
    descriptor = features.untrained()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        descriptor(scene.frame0, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        descriptor(scene.frame0, np.array([[np.nan, 1.0]]))
    with pytest.raises(TypeError, match="numpy array"):
        descriptor([[0, 1]], np.zeros((1, 2)))


def test_the_triplet_loss_is_zero_only_when_negatives_are_a_margin_further():
    anchor = torch.eye(4)
    assert features.triplet_loss(anchor, anchor.clone(), margin=1.0) == 0.0
    # Positives as far as the negatives: the loss is the margin.
    assert features.triplet_loss(anchor, torch.zeros(4, 4), margin=0.5) == pytest.approx(0.5)
    # A negative nearer than the positive costs the difference on top.
    rolled = features.triplet_loss(anchor, anchor.roll(1, 0), margin=0.5)
    assert rolled == pytest.approx(0.5 + 2 ** 0.5)
    # Disallowing every negative leaves no triplet with a negative; NaN signals it.
    none = torch.zeros(4, 4, dtype=torch.bool)
    assert torch.isnan(features.triplet_loss(anchor, anchor.clone(), allowed=none))


def test_training_is_deterministic_and_records_the_loss():
    first = features.train(4, config=TINY, progress=False)
    again = features.train(4, config=TINY, progress=False)
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)
    assert first.losses.shape == (3,) and np.isfinite(first.losses).all()
    assert first.n_scenes == 4 and first.train_config == TINY


def test_training_refuses_bad_arguments():
    with pytest.raises(ValueError, match="n_scenes"):
        features.train(0, config=TINY)
    with pytest.raises(TypeError, match="DescriptorTrainConfig"):
        features.train(4, config={"steps": 1})
    with pytest.raises(ValueError, match="patch"):
        features.DescriptorConfig(patch=10)
    with pytest.raises(ValueError, match="margin"):
        features.DescriptorTrainConfig(margin=-1.0)


def test_the_pipeline_takes_a_learned_descriptor_at_sifts_keypoints(scene):
    descriptor = features.untrained()
    sift = classical.detect(scene.frame0)
    learned = classical.detect(scene.frame0, descriptor=descriptor)
    # The same keypoint positions, each once: SIFT's orientation copies are merged.
    assert {tuple(p) for p in learned.points} == {tuple(p) for p in sift.points}
    assert len(np.unique(learned.points, axis=0)) == len(learned)
    assert learned.descriptors.shape == (len(learned), descriptor.config.dims)
    result = classical.run_pipeline(scene.frame0, scene.frame1, descriptor=descriptor)
    assert result.features0.descriptors.shape[1] == descriptor.config.dims
    assert result.depth.shape == scene.frame0.shape and result.reliable


def test_detect_refuses_a_bad_descriptor(scene):
    with pytest.raises(TypeError, match="callable"):
        classical.detect(scene.frame0, descriptor="hardnet")
    with pytest.raises(ValueError, match="must return"):
        classical.detect(scene.frame0, descriptor=lambda image, points: np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        classical.detect(scene.frame0, descriptor=lambda image, points:
                         np.full((len(points), 4), np.nan))


def test_matching_quality_counts_against_the_true_flow(scene):
    result = classical.run_pipeline(scene.frame0, scene.frame1)
    quality = features.matching_quality(result, scene)
    assert 0 < quality.correct <= quality.matches == len(result.matches)
    assert 0 < quality.precision <= 1 and 0 < quality.recall <= 1
    assert quality.correct <= quality.matchable
    pooled = quality + quality
    assert pooled.precision == pytest.approx(quality.precision)
    assert pooled.matches == 2 * quality.matches
    assert np.isnan(features.MatchingQuality(0, 0, 0).precision)
    with pytest.raises(TypeError, match="one world.Scene"):
        features.matching_quality(result, world.render_scenes(0, range(2)))
    with pytest.raises(TypeError, match="PipelineResult"):
        features.matching_quality(result.matches, scene)


def test_a_saved_descriptor_loads_back(tmp_path, scene):
    trained = features.train(2, config=TINY, progress=False)
    features.save(trained, tmp_path / "d.pt")
    loaded = features.load(tmp_path / "d.pt")
    points = np.array([[30.0, 30.0]], np.float32)
    assert np.array_equal(loaded(scene.frame0, points), trained(scene.frame0, points))
    assert loaded.train_config == TINY and np.array_equal(loaded.losses, trained.losses)
    (tmp_path / "bad.pt").write_bytes(b"not a descriptor")
    with pytest.raises(ValueError, match="not a descriptor"):
        features.load(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError):
        features.load(tmp_path / "missing.pt")


def test_the_learning_curve_draws_the_third_curve_when_the_sweep_has_it():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from depthlab import experiments
    from depthlab.plotting import learning_curve

    scores = {m: np.array([[0.3, 0.31], [0.2, 0.21]]) for m in experiments.METRICS}
    methods = {name: {m: 0.25 for m in experiments.METRICS}
               for name in ("classical", "motion_stereo", "constant")}
    bare = experiments.Sweep((16, 64), (0, 1), scores, methods, world.WorldConfig(), 10)
    full = experiments.Sweep((16, 64), (0, 1), scores, methods, world.WorldConfig(), 10,
                             learned_features=scores)
    labels = {}
    for name, sweep in (("bare", bare), ("full", full)):
        fig, ax = plt.subplots()
        learning_curve(ax, sweep, "absrel")
        labels[name] = {line.get_label() for line in ax.get_lines()}
        plt.close(fig)
    assert "learned features (seeds)" in labels["full"] - labels["bare"]
    assert {"learned (seeds)", "classical"} <= labels["bare"]
