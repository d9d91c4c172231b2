"""Tests of the fair crossover study: bootstrap statistics on known data, per-scene scores,
the study's caching, tuning and seeds on a tiny real run, and its JSON."""
import dataclasses
import json

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from depthlab import bootstrap, experiments, learned, metrics, parallel, plotting, world
from depthlab.experiments import cameramap, comparison
from depthlab.experiments import tuning as classical_tuning

SIZES = (10, 100, 1000)


def _study(learned_absrel, classical_absrel, n=400, seeds=3, seed=0, seed_spread=0.003):
    """A study of synthetic per-scene scores: AbsRel per size, with scene noise and a spread
    of ``seed_spread`` between the training seeds, drawn from a generator of its own."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.05, n)
    score = lambda mean: {m: np.clip(mean + noise + rng.normal(0, 0.01, n), 0.01, 0.99)  # noqa
                          for m in metrics.SCENE_METRICS}
    learned_scores = {m: [] for m in metrics.SCENE_METRICS}
    for mean in learned_absrel:
        rows = [score(mean + rng.normal(0, seed_spread)) for _ in range(seeds)]
        for m in metrics.SCENE_METRICS:
            learned_scores[m].append(np.stack([r[m] for r in rows]))
    methods = {name: score(value) for name, value in
               (("classical", classical_absrel), ("classical_default", classical_absrel + 0.01),
                ("motion_stereo", classical_absrel - 0.05), ("constant", 0.3))}
    tuning = experiments.Tuning({"ratio": 0.8}, {"penalty": 8.0},
                                [{"method": "classical", "params": {"ratio": 0.8},
                                  "absrel": 0.2, "delta1": 0.7},
                                 {"method": "motion_stereo",
                                  "params": {"ratio": 0.8, "penalty": 8.0},
                                  "absrel": 0.15, "delta1": 0.8}], 50)
    steps = [[100] * seeds for _ in SIZES]
    longer = {"size": SIZES[-1], "seed": 0, "steps": 200, "best_step": 200, "seconds": 2.0,
              "scores": {m: v[-1][0] - 0.01 for m, v in learned_scores.items()}}
    return experiments.CrossoverStudy(
        SIZES, tuple((0, 1, 2)[:seeds] for _ in SIZES), learned_scores, (SIZES[0],),
        {m: v[0][:1] for m, v in learned_scores.items()},
        methods, steps, steps, [[1.0] * seeds for _ in SIZES], tuning, world.WorldConfig(),
        experiments.CROSSOVER_CONFIG, n, longer, 2, replicates=400)


def test_a_clear_crossover_is_identified_and_a_tie_is_not():
    clear = _study([0.3, 0.2, 0.1], 0.2 + 0.0)
    cross = clear.crossover("absrel", "classical")
    assert cross.interval is not None and SIZES[0] < cross.interval[0] <= cross.median
    assert cross.interval[1] < SIZES[-1] and cross.reason is None
    never = _study([0.4, 0.35, 0.3], 0.2).crossover("absrel", "classical")
    assert never.interval is None and never.median is None and never.above > 0.9
    assert "not better at the largest size" in never.reason
    everywhere = _study([0.1, 0.09, 0.08], 0.2).crossover("absrel", "classical")
    assert everywhere.interval is None and "every size" in everywhere.reason
    # a tie at the largest size (no seed is better than another): the interval holds zero
    tie = _study([0.3, 0.25, 0.2], 0.2, seed_spread=0.0).gap("absrel", "classical")
    low, high = bootstrap.interval(tie[-1])
    assert low < 0 < high


def test_gaps_are_paired_over_scenes():
    study = _study([0.3, 0.2, 0.1], 0.2)
    paired = study.gap("absrel", "classical")[-1]
    unpaired = (study.replicates_of("absrel")[-1]
                - np.random.default_rng(1).permutation(study.replicates_of("absrel",
                                                                           "classical")))
    assert paired.std() < 0.5 * unpaired.std()  # the shared scene noise cancels
    with pytest.raises(ValueError, match="metric"):
        study.gap("rmse", "classical")
    with pytest.raises(ValueError, match="method"):
        study.mean("absrel", "oracle")


def test_the_crossover_command_prints_the_study_as_json(monkeypatch, capsys):
    study = _study([0.3, 0.2, 0.1], 0.2)
    monkeypatch.setattr(comparison, "crossover_study", lambda **kwargs: study)
    assert experiments.main(["crossover", "--json", "--no-features"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"sizes", "seeds", "learned", "classical", "motion_stereo", "constant",
                        "crossover_n", "ci", "gap", "steps", "train_seconds", "validation"}
    assert out["crossover_n"]["absrel"] == out["crossover_n"]["classical"]["absrel"]
    cross = out["crossover_n"]["motion_stereo"]["absrel"]
    assert set(cross) >= {"median", "interval", "reason"}
    gap = out["gap"]["classical"]["delta1"]
    assert len(gap["mean"]) == len(gap["ci"]) == len(SIZES)
    assert all(low <= mean <= high for mean, (low, high) in zip(gap["mean"], gap["ci"]))
    low, high = out["ci"]["classical"]["absrel"]
    assert low < out["mean"]["classical"]["absrel"] < high
    assert out["validation"]["strongest"] == "motion_stereo"
    assert out["longer_training"]["gap"]["absrel"]["mean"] == pytest.approx(-0.01)
    assert out["validation"]["classical"] == {"ratio": 0.8}
    experiments.main(["crossover", "--no-features"])
    assert "crossover N against motion_stereo" in capsys.readouterr().out


def _map():
    """A map of two synthetic levels: the learned model passes the pipeline in the first, and
    loses to it everywhere in the second."""
    phases = ((parallel.Task("a", "worker 0", 0.0, 4.0), parallel.Task("b", "worker 1", 0.0, 4.0)),
              tuple(parallel.Task(str(i), f"worker {i % 2}", 4.0 + 3 * (i // 2),
                                  7.0 + 3 * (i // 2)) for i in range(6)))
    return experiments.CrossoverMap({"easy": _study([0.3, 0.2, 0.1], 0.2),
                                     "hard": _study([0.5, 0.45, 0.4], 0.2)}, phases)


def test_the_map_names_a_winner_only_with_an_interval_that_excludes_a_tie():
    atlas = _map()
    assert atlas.verdicts("easy", "absrel", "classical") == ["classical", "undecided", "learned"]
    assert atlas.verdicts("hard", "absrel", "classical") == ["classical"] * 3
    assert atlas.verdicts("easy", "absrel", "motion_stereo")[0] == "motion_stereo"
    assert set(atlas.verdicts("hard", "delta1", "motion_stereo")) <= set(experiments.VERDICTS)
    assert atlas.crossover("easy", "absrel", "classical").interval is not None
    assert atlas.crossover("hard", "absrel", "classical").interval is None
    assert atlas.seconds() == pytest.approx(4.0 + 9.0)
    assert atlas.projected_seconds(1) == pytest.approx(8.0 + 18.0)
    assert atlas.projected_seconds(32) == pytest.approx(4.0 + 3.0)
    for level in ("easy", "hard"):  # a lower confidence leaves fewer cells undecided
        assert atlas.verdicts(level, "delta1", "motion_stereo", confidence=0.6).count(
            "undecided") <= atlas.verdicts(level, "delta1", "motion_stereo").count("undecided")
    fig, ax = plt.subplots()
    plotting.verdict_map(ax, atlas, "absrel", "classical")
    colours = [tuple(p.get_facecolor()[:3]) for p in ax.patches]
    assert len(colours) == 6 and len(set(colours)) == 3  # learned, classical and undecided
    plt.close(fig)
    with pytest.raises(ValueError, match="confidence"):
        atlas.verdicts("easy", "absrel", "classical", confidence=1.0)
    with pytest.raises(ValueError, match="level"):
        atlas.verdicts("medium", "absrel", "classical")
    with pytest.raises(ValueError, match="method"):
        atlas.verdicts("easy", "absrel", "constant")


def test_the_map_command_prints_verdicts_as_json(monkeypatch, capsys):
    atlas = _map()
    monkeypatch.setattr(cameramap, "crossover_map", lambda **kwargs: atlas)
    assert experiments.main(["map", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["levels"] == ["easy", "hard"] and out["sizes"] == list(SIZES)
    level = out["level"]["easy"]
    assert level["verdict"]["classical"]["absrel"] == ["classical", "undecided", "learned"]
    for method in ("classical", "motion_stereo"):
        low, high = level["ci"][method]["delta1"]
        assert low < level["mean"][method]["delta1"] < high
        assert len(level["gap"][method]["absrel"]["ci"]) == len(SIZES)
        assert set(level["crossover_n"][method]["absrel"]) >= {"median", "interval"}
    assert len(level["ci"]["learned"]["absrel"]) == len(SIZES)
    assert set(out["projected_seconds"]) == {"2", "8", "32"}
    experiments.main(["map"])
    assert "crossover N" in capsys.readouterr().out


def test_the_power_law_reports_intervals():
    study = _study([0.3, 0.2, 0.15], 0.2)
    law = study.power_law("absrel", replicates=50)
    assert law["beta"][0] <= law["fit"].beta <= law["beta"][1] < 0
    assert law["floor"][0] <= law["floor"][1]
    assert set(law) >= {"floor_minus_classical", "floor_minus_motion_stereo"}


def test_scene_scores_on_a_perfect_and_a_constant_map():
    scenes = experiments.split_scenes("test", 6)
    perfect = experiments.scene_scores(scenes.depth * 3.0, scenes)
    assert np.allclose(perfect["absrel"], 0, atol=1e-6) and np.allclose(perfect["bad1_noc"], 0)
    flat = experiments.scene_scores(np.ones_like(scenes.depth), scenes)
    assert (flat["absrel"] > 0.05).all() and (flat["bad1"] > 0).all()
    with pytest.raises(ValueError, match="shape"):
        metrics.scene_scores(scenes.depth, scenes.depth[:2], scenes.disparity, scenes.visible)
    with pytest.raises(ValueError, match="split"):
        experiments.split_scenes("train", 3)


@pytest.mark.slow
def test_a_tiny_study_tunes_on_validation_trains_more_seeds_and_is_cached(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    monkeypatch.setenv(parallel.SCHEDULER_VARIABLE, parallel.IN_PROCESS)
    monkeypatch.setattr(classical_tuning, "PIPELINE_GRID", {"ratio": (0.8, 0.7)})
    monkeypatch.setattr(classical_tuning, "STEREO_GRID", {"penalty": (8.0, 2.0)})
    monkeypatch.setattr(comparison, "EARLY_STOPPING_SCENES", 4)
    trained = lambda: sorted(tmp_path.glob("run-*.json"))  # noqa: E731  (one per model)
    config = dataclasses.replace(experiments.CROSSOVER_CONFIG, steps=20, check_every=10,
                                 batch=2)
    parallel.shutdown()
    try:
        study = experiments.crossover_study(sizes=(2, 4, 8), seeds=(0,), extra_seeds=(5,),
                                            monocular_sizes=(2,), n_test=12, n_validation=10,
                                            config=config, progress=False)
        assert len(trained()) >= 4  # 3 sizes, the monocular control, and maybe an extra seed
        assert study.tuning.pipeline["ratio"] in (0.8, 0.7)
        assert {t["method"] for t in study.tuning.tried} == {"classical", "motion_stereo"}
        assert all(len(s) in (1, 2) for s in study.seeds)
        assert study.learned["absrel"][0].shape[1] == 12
        assert all(1 <= steps <= 20 for row in study.steps for steps in row)
        model = study.model(4, 0)
        assert model.model_config.search_range >= world.WorldConfig().max_disparity
        assert study.model(2, 0, monocular=True).data_config.monocular
        if study.longer is not None:  # a seed ran into the cap
            assert study.longer["steps"] <= 40 and study.cap_gap("absrel").shape == (1000,)
            assert study.longer["size"] in study.sizes
        count = [p.stat().st_mtime_ns for p in trained()]
        again = experiments.crossover_study(sizes=(2, 4, 8), seeds=(0,), extra_seeds=(5,),
                                            monocular_sizes=(2,), n_test=12, n_validation=10,
                                            config=config, progress=False)
        assert [p.stat().st_mtime_ns for p in trained()] == count
        assert again.steps == study.steps
        # One model of the study on its own: the study's own run, from the cache.
        alone = experiments.study_models([4], seed=0, n_test=12, config=config,
                                         progress=False)[4]
        assert [p.stat().st_mtime_ns for p in trained()] == count
        assert alone.best_step == model.best_step
        assert all(torch.equal(a, b) for a, b in zip(alone.net.state_dict().values(),
                                                      model.net.state_dict().values()))
        # The map: its level of the study's world reuses the study's models, and trains
        # only the other level's; every method is tuned on each level's validation scenes.
        noisy = dataclasses.replace(world.WorldConfig(), noise=0.05, blur=1.0)
        atlas = experiments.crossover_map(levels={"default": world.WorldConfig(), "noisy": noisy},
                                          sizes=(2, 4, 8), seeds=(0,), n_test=12,
                                          n_validation=10, config=config, progress=False)
        assert len(trained()) == len(count) + 3
        assert np.array_equal(atlas.levels["default"].learned["absrel"][1][0],
                              study.learned["absrel"][1][0])
        assert atlas.levels["default"].tuning == study.tuning
        assert atlas.levels["noisy"].methods["classical"]["absrel"].shape == (12,)
        assert len(atlas.phases[-1]) == 3  # the jobs the map ran: the noisy level's models
        assert all(len(atlas.verdicts(level, "absrel", "classical")) == 3
                   for level in ("default", "noisy"))
    finally:
        parallel.shutdown()
    with pytest.raises(ValueError, match="patience"):
        experiments.crossover_study(config=learned.TrainConfig())
    with pytest.raises(ValueError, match="distinct"):
        experiments.crossover_study(seeds=(0, 1), extra_seeds=(1,))
    with pytest.raises(ValueError, match="monocular_sizes"):
        experiments.crossover_study(monocular_sizes=(3,))
    with pytest.raises(ValueError, match="patience"):
        experiments.study_models([4], config=learned.TrainConfig())
    with pytest.raises(TypeError, match="WorldConfig"):
        experiments.study_models([4], world_config={"noise": 0.01})
    with pytest.raises(ValueError, match="sizes"):
        experiments.study_models([0])
    with pytest.raises(TypeError, match="WorldConfig"):
        experiments.crossover_map(levels={"bad": {"noise": 0.01}})
    with pytest.raises(ValueError, match="levels"):
        experiments.crossover_map(levels={})
    with pytest.raises(ValueError, match="sizes"):
        experiments.crossover_map(sizes=(4, 2, 8))
    with pytest.raises(ValueError, match="seeds"):
        experiments.crossover_map(seeds=(0, 0))


def test_coordinate_descent_runs_each_setting_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    monkeypatch.setenv(parallel.SCHEDULER_VARIABLE, parallel.IN_PROCESS)
    monkeypatch.setattr(classical_tuning, "PIPELINE_GRID",
                        {"ratio": (0.8, 0.7), "threshold": (0.5, 1.0)})
    monkeypatch.setattr(classical_tuning, "STEREO_GRID",
                        {"penalty": (8.0, 2.0), "block_size": (5, 3)})
    phases = []
    tuning, = classical_tuning._tune([world.WorldConfig()], 10, False, phases)
    # each later step reuses the current choice, measured in the step before
    assert [len(p) for p in phases] == [2, 1, 2, 1]
    for method in ("classical", "motion_stereo"):
        params = [t["params"] for t in tuning.tried if t["method"] == method]
        assert len(params) == 3 and all(params.count(p) == 1 for p in params)
    chosen = tuning.validation("motion_stereo")
    direct = classical_tuning._classical_job(tuning.pipeline, tuning.stereo, world.WorldConfig(),
                                       "validation", 10)
    assert chosen["absrel"] == float(np.mean(direct["absrel"]))


def test_classical_scores_run_each_setting_once_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    monkeypatch.setenv(parallel.SCHEDULER_VARIABLE, parallel.IN_PROCESS)
    settings = [({}, None), ({"ratio": 0.7}, None), ({}, {"penalty": 2.0})]
    scores = experiments.classical_scores(settings, n_scenes=3, progress=False)
    assert len(scores) == 3 and all(s["absrel"].shape == (3,) for s in scores)
    direct = classical_tuning._classical_job({}, {"penalty": 2.0}, world.WorldConfig(),
                                             "validation", 3)
    assert np.array_equal(scores[2]["absrel"], direct["absrel"])
    entries = {p: p.stat().st_mtime_ns for p in tmp_path.glob("scores-*.json")}
    assert len(entries) == 3
    again = experiments.classical_scores(settings[::-1], n_scenes=3, progress=False)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("scores-*.json")} == entries
    assert np.array_equal(again[0]["delta1"], scores[2]["delta1"])
    with pytest.raises(TypeError, match="setting"):
        experiments.classical_scores([({}, "sgbm")], n_scenes=3)
    with pytest.raises(ValueError, match="split"):
        experiments.classical_scores(settings, split="train")
    with pytest.raises(TypeError, match="WorldConfig"):
        experiments.classical_scores(settings, world_config="typical")
