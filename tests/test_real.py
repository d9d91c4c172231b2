"""Tests of depthlab.real: the real pairs and the classical pipeline on them."""
import pathlib

import numpy as np
import pytest

import torch

from depthlab import classical, learned, metrics, real


def test_motorcycle_at_a_quarter_scale():
    pair = real.load_motorcycle(0.25)
    assert pair.frame0.shape == pair.frame1.shape == pair.depth.shape == (125, 185)
    assert pair.frame0.dtype == np.float32 and 0 <= pair.frame0.min() <= pair.frame0.max() <= 1
    assert 0.5 < pair.valid.mean() < 1.0
    assert np.isinf(pair.depth[~pair.valid]).all() and np.isnan(pair.disparity[~pair.valid]).all()
    assert np.allclose(pair.depth[pair.valid],
                       pair.focal * pair.baseline / pair.disparity[pair.valid], rtol=1e-5)
    assert 1.0 < pair.depth[pair.valid].min() < pair.depth[pair.valid].max() < 10.0  # metres


def test_unknown_footprints_stay_invalid_after_downscaling():
    full, small = real.load_motorcycle(1.0), real.load_motorcycle(0.5)
    # Every valid 2x2 block of the full pair contains only known pixels.
    h, w = small.valid.shape
    blocks = full.valid[:2 * h, :2 * w].reshape(h, 2, w, 2).all(axis=(1, 3))
    assert not (small.valid & ~blocks).any()


def test_the_classical_pipeline_on_the_real_pair():
    pair = real.load_motorcycle(0.25)
    depth = classical.estimate_depth(pair.frame0, pair.frame1)
    assert metrics.depth_metrics(depth, pair.depth).absrel <= 0.16


@pytest.mark.parametrize("scale, error", [(0.0, ValueError), (1.5, ValueError),
                                          (0.01, ValueError), ("half", TypeError)])
def test_bad_scales_are_refused(scale, error):
    with pytest.raises(error, match="scale"):
        real.load_motorcycle(scale)


@pytest.mark.parametrize("name", real.MIDDLEBURY)
def test_each_middlebury_pair_loads_with_its_ground_truth(name):
    pair = real.load_middlebury(name)
    assert pair.name == name and pair.frame0.shape == pair.frame1.shape == pair.depth.shape
    assert 180 <= pair.frame0.shape[1] <= 250 and pair.frame0.dtype == np.float32
    assert 0 <= pair.frame0.min() <= pair.frame0.max() <= 1
    assert pair.valid.mean() > 0.75
    assert np.isinf(pair.depth[~pair.valid]).all() and np.isnan(pair.disparity[~pair.valid]).all()
    np.testing.assert_allclose(pair.depth[pair.valid], 1.0 / pair.disparity[pair.valid], rtol=1e-6)
    assert np.isnan(pair.focal) and np.isnan(pair.baseline)
    # The disparity is right: frame 1 sampled at x - d looks like frame 0, far more than at x.
    rows, cols = np.nonzero(pair.valid)
    match = cols - pair.disparity[rows, cols]
    inside = match >= 0
    rows, cols, match = rows[inside], cols[inside], match[inside]
    left, frac = np.floor(match).astype(int), match - np.floor(match)
    right = np.minimum(left + 1, pair.frame1.shape[1] - 1)
    warped = (1 - frac) * pair.frame1[rows, left] + frac * pair.frame1[rows, right]
    error = np.abs(warped - pair.frame0[rows, cols]).mean()
    assert error < 0.4 * np.abs(pair.frame1[rows, cols] - pair.frame0[rows, cols]).mean()


def test_a_middlebury_pair_scales_like_the_motorcycle_pair():
    full, half = real.load_middlebury("cones"), real.load_real("cones", scale=0.5)
    assert half.frame0.shape == (round(full.frame0.shape[0] / 2), round(full.frame0.shape[1] / 2))
    assert np.nanmax(half.disparity) == pytest.approx(np.nanmax(full.disparity) / 2, rel=0.05)
    assert half.valid.mean() <= full.valid.mean()  # an unknown pixel spoils its footprint
    assert real.load_real("motorcycle", scale=0.25).name == "motorcycle"


def test_the_pairs_ship_with_their_terms_and_provenance():
    folder = pathlib.Path(real.__file__).parent / "data" / "middlebury"
    readme = (folder / "README.md").read_text()
    terms = (folder / "LICENSE-Middlebury.txt").read_text()
    assert "We grant permission to use and publish" in terms
    for name in real.MIDDLEBURY:
        assert f"## {name}" in readme
        assert {p.name for p in (folder / name).iterdir()} == {"left.png", "right.png",
                                                               "disparity.png"}
    assert sum(p.stat().st_size for p in folder.rglob("*.png")) < 2_000_000
    # Nothing reserved for the independent check ships: no Middlebury 2006 scene, neither Books
    # nor Reindeer (2005), no KITTI frame.
    reserved = {"aloe", "baby1", "baby2", "baby3", "bowling1", "bowling2", "cloth1", "cloth2",
                "cloth3", "cloth4", "flowerpots", "lampshade1", "lampshade2", "midd1", "midd2",
                "monopoly", "plastic", "rocks1", "rocks2", "wood1", "wood2", "books", "reindeer"}
    shipped = {p.name.lower() for p in folder.iterdir() if p.is_dir()}
    assert not shipped & reserved and not any("kitti" in name for name in shipped)
    assert shipped == set(real.MIDDLEBURY)


def test_the_real_pairs_split_once_into_validation_and_test():
    validation, test = real.REAL_SPLITS["validation"], real.REAL_SPLITS["test"]
    assert set(real.REAL_SPLITS) == {"validation", "test"}
    assert not set(validation) & set(test) and sorted(validation + test) == sorted(real.REAL_PAIRS)
    assert len(real.REAL_PAIRS) >= 20 and len(test) >= 2 * len(validation) - 1


@pytest.mark.parametrize("call, error, match", [
    (lambda: real.load_middlebury("kitti"), ValueError, "one of"),
    (lambda: real.load_real("sintel"), ValueError, "one of"),
    (lambda: real.load_middlebury("art", scale=0.01), ValueError, "scale"),
    (lambda: real.load_middlebury("art", scale="half"), TypeError, "scale"),
])
def test_bad_names_and_scales_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.fixture(scope="module")
def tiny_model():
    return learned.train(4, config=learned.TrainConfig(steps=2, batch=2, crop=(32, 48), threads=1),
                         progress=False)


def test_the_masked_loss_ignores_unknown_pixels_and_the_scale():
    target = torch.rand(2, 1, 8, 8) + 0.5
    valid = torch.rand(2, 1, 8, 8) > 0.3
    prediction = 3.0 * target
    assert real.masked_scale_invariant_loss(prediction, target, valid).item() < 1e-6
    spoiled = torch.where(valid, prediction, torch.full_like(prediction, 100.0))
    assert real.masked_scale_invariant_loss(spoiled, target, valid).item() < 1e-6
    nothing = torch.zeros_like(valid)
    assert real.masked_scale_invariant_loss(prediction * torch.rand_like(target), target,
                                            nothing).item() == 0.0


def test_fine_tuning_is_seeded_leaves_the_model_and_lowers_the_loss(tiny_model):
    pairs = [real.load_middlebury(name, scale=0.5) for name in ("venus", "tsukuba")]
    before = [t.clone() for t in tiny_model.net.state_dict().values()]
    a = real.fine_tune(tiny_model, pairs, steps=30, lr=3e-3, batch=4, crop=(32, 48), cached=False)
    b = real.fine_tune(tiny_model, pairs, steps=30, lr=3e-3, batch=4, crop=(32, 48), cached=False)
    assert all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(),
                                                 b.net.state_dict().values()))
    assert all(torch.equal(x, y) for x, y in zip(before, tiny_model.net.state_dict().values()))
    assert a.losses[-10:].mean() < a.losses[:10].mean()
    assert learned.predict(a, pairs[0].frame0, pairs[0].frame1).shape == pairs[0].frame0.shape


@pytest.mark.parametrize("kwargs, error, match", [
    ({"pairs": []}, TypeError, "RealPair"),
    ({"crop": (33, 48)}, ValueError, "even"),
    ({"crop": (400, 48)}, ValueError, "smaller than the crop"),
    ({"steps": 0}, ValueError, "steps"),
    ({"crop": 48}, TypeError, "crop"),
])
def test_fine_tuning_refuses_bad_input(tiny_model, kwargs, error, match):
    arguments = {"pairs": [real.load_middlebury("venus")], **kwargs}
    with pytest.raises(error, match=match):
        real.fine_tune(tiny_model, arguments.pop("pairs"), **arguments)


def test_fine_tuning_is_cached_by_model_pairs_and_settings(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    pairs = [real.load_middlebury("venus", scale=0.5)]
    settings = dict(steps=3, batch=2, crop=(32, 48))
    first = real.fine_tune(tiny_model, pairs, **settings)
    assert len(list(tmp_path.glob("finetuned-*.pt"))) == 1
    monkeypatch.setattr(real.torch.optim, "Adam", None)  # a second training would fail here
    again = real.fine_tune(tiny_model, pairs, **settings)
    assert all(torch.equal(x, y) for x, y in zip(first.net.state_dict().values(),
                                                 again.net.state_dict().values()))
    np.testing.assert_array_equal(first.losses, again.losses)
    monkeypatch.undo()
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    real.fine_tune(tiny_model, pairs, **{**settings, "seed": 1})
    real.fine_tune(tiny_model, [real.load_middlebury("tsukuba", scale=0.5)], **settings)
    assert len(list(tmp_path.glob("finetuned-*.pt"))) == 3


def test_the_self_supervised_loss_is_lowest_at_the_true_disparity():
    from depthlab import world
    scenes = world.render_scenes(0, range(4), world.WORLDS["wide"])
    frames = torch.from_numpy(np.stack([scenes.frame0, scenes.frame1], 1))
    truth = torch.from_numpy(scenes.disparity[:, None])
    losses = {factor: float(real.self_supervised_loss(frames, factor * truth, smoothness=0.0))
              for factor in (0.0, 0.5, 1.0, 1.5)}
    assert min(losses, key=losses.get) == 1.0, losses
    # The smoothness term does not depend on the disparity's scale, and is zero for a constant.
    flat = torch.full_like(truth, 3.0)
    assert float(real.self_supervised_loss(frames, flat, smoothness=1.0)) == pytest.approx(
        float(real.self_supervised_loss(frames, flat, smoothness=0.0)))


def test_fine_tuning_without_labels_changes_the_model_and_checks_its_flags():
    model = learned.train(8, config=learned.TrainConfig(steps=2, batch=2, crop=(32, 48)),
                          progress=False)
    pair = real.load_middlebury("tsukuba", scale=0.5)
    tuned = real.fine_tune(model, [pair], steps=2, batch=2, crop=(32, 48), labels=False,
                           cached=False)
    assert tuned.losses.shape == (2,) and np.isfinite(tuned.losses).all()
    before, after = (next(m.net.parameters()).detach().clone() for m in (model, tuned))
    assert not torch.equal(before, after)
    with pytest.raises(TypeError, match="labels"):
        real.fine_tune(model, [pair], steps=2, labels="no", cached=False)
    with pytest.raises(ValueError, match="smoothness"):
        real.fine_tune(model, [pair], steps=2, labels=False, smoothness=-1.0, cached=False)
