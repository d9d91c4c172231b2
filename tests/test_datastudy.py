"""Tests of depthlab.experiments.datastudy: training sets filled with copies, augmentations or
wrong labels."""
import numpy as np
import pytest

from depthlab import experiments, learned


@pytest.mark.slow
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
