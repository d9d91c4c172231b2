"""The book's studies and their command line (``python -m depthlab.experiments``).

- `studies`: the studies themselves (the data-size sweep, the learned-feature curve, the data
  study, the throughput of the executor), each a set of jobs for `depthlab.parallel` whose
  results `depthlab.cache` keeps;
- `comparison`: the fair crossover study (classical methods tuned on validation, the learned
  model with early stopping, a monocular control, paired bootstrap intervals), and the map of
  its verdicts across cameras;
- `curves`: the learning-curve maths (errors, the power law, where a curve crosses a line,
  bootstrap intervals);
- `realpairs`: the methods on the real stereo pairs, every choice made on the validation pairs
  and every number reported on the test pairs, and `score_pair` for any pair;
- `costs`: the price list of labelled data;
- `cli`: the command line.

Everything public is also available here, as ``experiments.sweep`` and so on.
"""
from .comparison import (CROSSOVER_CONFIG, CROSSOVER_SIZES, EARLY_STOPPING_SCENES, MAP_SEEDS,
                         MAP_SIZES, PIPELINE_GRID, SCENE_METRICS, STEREO_GRID, VERDICTS,
                         CrossoverMap, CrossoverStudy, LearningCurve, Tuning, classical_scores,
                         crossover_map, crossover_study, scene_scores, split_scenes, study_models,
                         tune_classical)
from .costs import CostModel
from .curves import (METRICS, Crossover, PowerLaw, as_error, bootstrap_crossover,
                     bootstrap_means, crossing, fit_power_law, interval, paired_interval,
                     resample)
from .studies import (DATA_NOMINAL, DATA_UNIQUE, FEATURE_CONFIG, FEATURE_METRICS, FILLS,
                      LABEL_NOISE, SIZES, SWEEP_CONFIG, ClassicalEvaluation, DataStudy,
                      FeatureCurve, Sweep, Throughput, data_study, evaluate_classical,
                      feature_curve, pipeline_scores, sweep, test_scenes, throughput,
                      train_models, trained_descriptor, trained_model)
from .realpairs import (ABLATIONS, LABEL_COUNTS, LEARNED_KINDS, REAL_CONFIG, REAL_CURVE_SIZES,
                        REAL_METHODS, REAL_MODEL, REAL_SEEDS, REAL_SIZE, REAL_WORLD, SCALE_TARGETS,
                        LabelCurve, RealCurve, RealStudy, RealTuning, label_curve, pair_depths,
                        real_curve,
                        real_models, real_study, scaled_pair, score_pair, tune_real)
from .cli import main

__all__ = ["CROSSOVER_CONFIG", "CROSSOVER_SIZES", "EARLY_STOPPING_SCENES", "MAP_SEEDS", "MAP_SIZES",
           "PIPELINE_GRID", "SCENE_METRICS", "STEREO_GRID", "VERDICTS", "Crossover",
           "CrossoverMap", "CrossoverStudy", "LearningCurve", "Tuning", "bootstrap_crossover",
           "bootstrap_means", "classical_scores", "crossover_map", "crossover_study", "interval", "paired_interval", "resample",
           "scene_scores",
           "split_scenes", "study_models", "tune_classical",
           "DATA_NOMINAL", "DATA_UNIQUE", "FEATURE_CONFIG", "FEATURE_METRICS", "FILLS",
           "LABEL_NOISE", "METRICS", "SIZES", "SWEEP_CONFIG", "ClassicalEvaluation", "CostModel",
           "DataStudy", "FeatureCurve", "PowerLaw", "Sweep", "Throughput", "as_error",
           "crossing", "data_study", "evaluate_classical", "feature_curve", "fit_power_law",
           "main", "pipeline_scores", "sweep", "test_scenes", "throughput", "train_models",
           "trained_descriptor", "trained_model",
           "ABLATIONS", "LABEL_COUNTS", "LEARNED_KINDS", "REAL_CONFIG", "REAL_CURVE_SIZES",
           "REAL_METHODS", "REAL_MODEL", "REAL_SEEDS", "REAL_SIZE", "REAL_WORLD", "SCALE_TARGETS",
           "LabelCurve", "RealCurve", "RealStudy", "RealTuning", "label_curve", "pair_depths",
           "real_curve",
           "real_models", "real_study", "scaled_pair", "score_pair", "tune_real"]
