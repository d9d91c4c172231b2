"""The book's studies and their command line (``python -m depthlab.experiments``).

- `studies`: the data-size sweep and the learned-feature curve, each a set of jobs for
  `depthlab.parallel` whose results `depthlab.cache` keeps; `datastudy`, training sets
  filled with copies, augmentations or wrong labels; `speedup`, the executor's speed-up
  (`throughput`);
- `models`: the one path that trains and caches the book's networks (`Run`, `train_runs`);
- `tuning`: the classical methods tuned on validation scenes, and the splits and per-scene
  scores every comparison uses;
- `comparison`: the fair crossover study (the tuned classical methods, the learned model with
  early stopping, a monocular control, paired bootstrap intervals);
- `cameramap`: the crossover's verdicts across the cameras;
- `curves`: the learning-curve maths (errors, the power law, where a curve crosses a line,
  with `depthlab.bootstrap`'s intervals);
- `realpairs`: the methods on the real stereo pairs, every choice made on the validation pairs
  and every number reported on the test pairs, and `score_pair` for any pair; `realcurves`,
  the learned model's real error as its synthetic data and its real labels grow;
- `costs`: the price list of labelled data;
- `cli`: the command line.

Everything public is also available here, as ``experiments.sweep`` and so on.
"""
from ..metrics import SCENE_METRICS
from .cameramap import MAP_SEEDS, MAP_SIZES, VERDICTS, CrossoverMap, crossover_map
from .comparison import (CROSSOVER_CONFIG, CROSSOVER_SIZES, EARLY_STOPPING_SCENES, CrossoverStudy,
                         LearningCurve, crossover_study, study_models)
from .tuning import (PIPELINE_GRID, STEREO_GRID, ClassicalEvaluation, Tuning, classical_scores,
                     evaluate_classical, scene_scores, split_scenes, tune_classical)
from .costs import CostModel
from .curves import (METRICS, Crossover, PowerLaw, as_error, bootstrap_crossover, crossing,
                     fit_power_law)
from .models import Run, train_runs, trained
from .datastudy import DATA_NOMINAL, DATA_UNIQUE, FILLS, LABEL_NOISE, DataStudy, data_study
from .studies import (FEATURE_CONFIG, FEATURE_METRICS, SIZES, SWEEP_CONFIG, FeatureCurve, Sweep,
                      feature_curve, pipeline_scores, sweep, test_scenes, train_models,
                      trained_descriptor, trained_model)
from .speedup import Throughput, throughput
from .realcurves import (LABEL_COUNTS, REAL_CURVE_SIZES, LabelCurve, RealCurve, label_curve,
                         pair_depths, real_curve)
from .realpairs import (ABLATIONS, LEARNED_KINDS, REAL_CONFIG, REAL_METHODS, REAL_MODEL, REAL_SEEDS,
                        REAL_SIZE, REAL_WORLD, SCALE_TARGETS, RealStudy, RealTuning, real_models,
                        real_study, scaled_pair, score_pair, tune_real)
from .cli import main

__all__ = ["CROSSOVER_CONFIG", "CROSSOVER_SIZES", "EARLY_STOPPING_SCENES", "MAP_SEEDS", "MAP_SIZES",
           "PIPELINE_GRID", "SCENE_METRICS", "STEREO_GRID", "VERDICTS", "Crossover",
           "CrossoverMap", "CrossoverStudy", "LearningCurve", "Tuning", "bootstrap_crossover",
           "classical_scores", "crossover_map", "crossover_study", "scene_scores",
           "split_scenes", "study_models", "tune_classical",
           "DATA_NOMINAL", "DATA_UNIQUE", "FEATURE_CONFIG", "FEATURE_METRICS", "FILLS",
           "LABEL_NOISE", "METRICS", "SIZES", "SWEEP_CONFIG", "ClassicalEvaluation", "CostModel",
           "DataStudy", "FeatureCurve", "PowerLaw", "Sweep", "Throughput", "as_error",
           "crossing", "data_study", "evaluate_classical", "feature_curve", "fit_power_law",
           "main", "pipeline_scores", "sweep", "test_scenes", "throughput", "train_models",
           "trained_descriptor", "trained_model", "Run", "train_runs", "trained",
           "ABLATIONS", "LABEL_COUNTS", "LEARNED_KINDS", "REAL_CONFIG", "REAL_CURVE_SIZES",
           "REAL_METHODS", "REAL_MODEL", "REAL_SEEDS", "REAL_SIZE", "REAL_WORLD", "SCALE_TARGETS",
           "LabelCurve", "RealCurve", "RealStudy", "RealTuning", "label_curve", "pair_depths",
           "real_curve",
           "real_models", "real_study", "scaled_pair", "score_pair", "tune_real"]
