"""The command line of the book's studies (from any folder, once the package is installed)::

    python -m depthlab.experiments classical --scenes 200 --split validation --json
    python -m depthlab.experiments learned --scenes 4096 --seed 0 --recipe study --json
    python -m depthlab.experiments features --json
    python -m depthlab.experiments crossover --json
    python -m depthlab.experiments map --json
    python -m depthlab.experiments duplicates --json
    python -m depthlab.experiments real --json
    python -m depthlab.experiments throughput --json

The studies (features, crossover, map, duplicates, real) run their jobs on a local Dask cluster,
or on the cluster that ``--scheduler tcp://host:port`` (or ``$DEPTHLAB_SCHEDULER``) names. They
show a progress bar, unless ``--json`` is given, which prints only the JSON.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os

import numpy as np

from .. import learned, metrics, parallel
from . import cameramap, comparison, datastudy, realpairs, speedup, studies, tuning
from .curves import METRICS
from .studies import FEATURE_METRICS

__all__ = ["main"]


def _print_crossover(result):
    """The crossover command's text output, from its JSON."""
    ci = result["ci"]
    for metric in METRICS:
        print(f"{metric}: " + ", ".join(
            f"{m} {result['mean'][m][metric]:.3f} [{ci[m][metric][0]:.3f}, {ci[m][metric][1]:.3f}]"
            for m in ("classical", "motion_stereo", "constant")))
        for i, n in enumerate(result["sizes"]):
            low, high = ci["learned"][metric][i]
            steps = [s for s in result["steps"][i] if s is not None]
            print(f"  learned, {n:>5} scenes: {result['mean']['learned'][metric][i]:.3f} "
                  f"[{low:.3f}, {high:.3f}], {len(steps)} seeds, steps {steps}")
        if "learned_features" in result:
            for n, row in zip(result["sizes"], result["learned_features"][metric]):
                print(f"  learned features, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))
        for method in ("classical", "motion_stereo"):
            cross = result["crossover_n"][method][metric]
            print(f"  crossover N against {method}: " + (
                f"{cross['median']:.0f} [{cross['interval'][0]:.0f}, {cross['interval'][1]:.0f}]"
                if cross["interval"] else f"not identified ({cross['reason']})"))


def _print_map(result):
    """The map command's text output, from its JSON."""
    for name in result["levels"]:
        level = result["level"][name]
        print(f"{name}:")
        for metric in result["metrics"]:
            for method in ("classical", "motion_stereo"):
                cross = level["crossover_n"][method][metric]
                print(f"  {metric} against {method}: "
                      + " ".join(f"{n}:{v}" for n, v in zip(result["sizes"],
                                                            level["verdict"][method][metric]))
                      + "; crossover N " + (
                          f"{cross['median']:.0f} [{cross['interval'][0]:.0f}, "
                          f"{cross['interval'][1]:.0f}]" if cross["interval"]
                          else f"not identified ({cross['reason']})"))
    print(f"{result['seconds']:.0f} s of jobs here; projected on 8 workers "
          f"{result['projected_seconds']['8']:.0f} s, "
          f"on 32 {result['projected_seconds']['32']:.0f} s")


def _print_features(result):
    """The features command's text output, from its JSON."""
    for metric in FEATURE_METRICS:
        print(f"{metric}: SIFT's descriptor {result['sift'][metric]:.3f}, untrained "
              + " ".join(f"{v:.3f}" for v in result["untrained"][metric]))
        for n, row in zip(result["sizes"], result["learned_features"][metric]):
            print(f"  learned features, {n:>5} scenes: " + " ".join(f"{v:.3f}" for v in row))


def _print_data(result):
    """The duplicates command's text output, from its JSON."""
    for metric in METRICS:
        print(f"{metric}, {result['nominal']} items made of U unique scenes (seeds):")
        for i, (n, k) in enumerate(zip(result["unique"], result["k"])):
            print(f"  U = {n:>4} (k = {k:.1f}): " + ", ".join(
                f"{name} " + " ".join(f"{v:.3f}" for v in scores[metric][i])
                for name, scores in result["variants"].items()))
        print(f"  {result['nominal']} scenes in their four flips: "
              + " ".join(f"{v:.3f}" for v in result["nominal_flipped"][metric]))
        for rate, row in zip(result["label_noise"]["rates"], result["label_noise"][metric]):
            print(f"  {rate:.0%} wrong labels: " + " ".join(f"{v:.3f}" for v in row))


def _real_table(result):
    """The real-pairs study as a table: each method's mean AbsRel with its interval."""
    lines = [f"{len(result['pairs'])} real test pairs, AbsRel (95% interval over pairs and seeds)"]
    for name, entry in result["methods"].items():
        low, high = entry["absrel"]["ci"]
        lines.append(f"{name:>18}: {entry['absrel']['mean']:.3f} [{low:.3f}, {high:.3f}]  "
                     f"{entry['description']}")
    return "\n".join(lines)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser():
    parser = argparse.ArgumentParser(prog="python -m depthlab.experiments",
                                     description="Run one of the book's studies.")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_scene_commands(commands)
    _add_study_commands(commands)
    _add_other_commands(commands)
    return parser


def _add_scene_commands(commands):
    """``classical`` and ``learned``: one method scored on the test or validation scenes."""
    run = commands.add_parser("classical", help="the classical pipeline (the book's defaults) "
                              "on test or validation scenes")
    run.add_argument("--scenes", type=int, default=200, help="number of scenes")
    run.add_argument("--split", choices=("test", "validation"), default="test",
                     help="the world's split (default: test)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    one = commands.add_parser("learned", help="train the learned model (cached) and score it on "
                              "test or validation scenes")
    one.add_argument("--scenes", type=int, default=studies.SIZES[-1],
                     help="number of training scenes")
    one.add_argument("--seed", type=int, default=0, help="the training seed")
    one.add_argument("--recipe", choices=("sweep", "study"), default="sweep",
                     help="the reference sweep's training (fixed steps, default) or the "
                          "crossover study's (early stopping, a search covering the world)")
    one.add_argument("--test", type=int, default=200, help="number of scenes scored")
    one.add_argument("--split", choices=("test", "validation"), default="test",
                     help="the world's split scored (default: test)")
    one.add_argument("--json", action="store_true", help="print one JSON object")


def _add_study_commands(commands):
    """The studies that run jobs on a cluster: ``features``, ``crossover``, ``map`` and
    ``duplicates``."""
    for name, text in (("features", "the pipeline with a learned descriptor at the sweep's "
                        "sizes and seeds (cached; cold, about 2 minutes on 2 cores)"),
                       ("crossover", "the learned model's learning curve against the classical "
                        "methods tuned on validation, with bootstrap intervals (cached; cold, "
                        "about 15 minutes on 2 cores, more with the learned descriptor)"),
                       ("map", "who wins where: the learned model against both classical "
                        "methods, each tuned per world, at every camera of world.CAMERAS and "
                        "several training-set sizes (cached; shares the crossover's models)"),
                       ("duplicates", "training sets of copied, augmented or wrongly labelled "
                        "scenes (cached; runs the crossover first)")):
        study = commands.add_parser(name, help=text)
        study.add_argument("--seeds", type=_positive,
                           default=len(cameramap.MAP_SEEDS) if name == "map" else 3,
                           help="seeds 0 .. SEEDS - 1")
        study.add_argument("--scheduler", help="address of a Dask scheduler to run the jobs on "
                           f"(tcp://host:port), or {parallel.IN_PROCESS!r} to compute in this "
                           f"process (default: ${parallel.SCHEDULER_VARIABLE}, else a local "
                           "cluster)")
        study.add_argument("--json", action="store_true", help="print only one JSON object")
        if name == "crossover":
            study.add_argument("--sizes", type=_positive, nargs="+",
                               default=comparison.CROSSOVER_SIZES,
                               help="training-set sizes, increasing")
            study.add_argument("--extra-seeds", type=int, default=2,
                               help="more seeds at the sizes around each crossover")
            study.add_argument("--steps", type=_positive,
                               default=comparison.CROSSOVER_CONFIG.steps,
                               help="the cap on training steps per model (early stopping "
                               "on validation decides below it)")
            study.add_argument("--test", type=_positive, default=500,
                               help="number of test scenes")
            study.add_argument("--validation", type=_positive, default=200,
                               help="number of validation scenes the classical methods are "
                               "tuned on")
            study.add_argument("--no-features", action="store_true",
                               help="leave out the pipeline with a learned descriptor")


def _add_other_commands(commands):
    """``real`` (the real pairs) and ``throughput`` (the executor's speed-up)."""
    pairs = commands.add_parser("real", help="the real stereo pairs: every method on the test "
                                "pairs, each tuned on the validation pairs, with 95%% intervals "
                                "over pairs and seeds (cached; cold, about 5 minutes on 2 cores)")
    pairs.add_argument("--seeds", type=_positive, default=len(realpairs.REAL_SEEDS),
                       help="training seeds 0 .. SEEDS - 1 of the learned models")
    pairs.add_argument("--json", action="store_true", help="print only one JSON object")
    speed = commands.add_parser("throughput", help="the same training jobs on a local cluster of "
                                "1 worker and of 2 (cached): speed-up and overhead per job")
    speed.add_argument("--workers", type=_positive, nargs="+", default=(1, 2),
                       help="worker processes of each cluster")
    speed.add_argument("--jobs", type=_positive, default=6, help="models trained per cluster")
    speed.add_argument("--steps", type=_positive, default=150, help="training steps per model")
    speed.add_argument("--json", action="store_true", help="print only one JSON object")


def _throughput(args):
    """The throughput command's JSON."""
    result = speedup.throughput(workers=args.workers, jobs=args.jobs, steps=args.steps,
                                progress=not args.json)
    job = [float(np.mean([t.seconds for t in run])) for run in result.tasks]
    return {"workers": list(result.workers), "jobs": args.jobs, "steps": result.steps,
            "n_scenes": result.n_scenes, "seconds": list(result.seconds),
            "job_seconds": job, "speedup": result.speedup().tolist(),
            "overhead_seconds_per_job": result.overhead().tolist()}


def main(argv=None) -> int:
    """The command line: ``classical``, ``learned``, ``features``, ``crossover``, ``map``,
    ``duplicates``, ``real`` or ``throughput``; ``--help`` on each lists its options.

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program's name; None reads them from ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0. Bad arguments or options exit through argparse (status 2) instead.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    handler = {"features": _study, "crossover": _study, "map": _study, "duplicates": _study,
               "real": _real, "throughput": _speed}.get(args.command, _one_method)
    return handler(parser, args)


def _study(parser, args):
    """Runs a study on the cluster and prints it."""
    try:
        if args.scheduler is not None:
            os.environ[parallel.SCHEDULER_VARIABLE] = args.scheduler
            parallel.client()  # connect now: a bad address fails before any work
        options = {"seeds": range(args.seeds), "progress": not args.json}
        if args.command == "crossover":
            if args.extra_seeds < 0:
                raise ValueError(f"--extra-seeds must be at least 0, got {args.extra_seeds}")
            options.update(sizes=args.sizes, n_test=args.test, monocular_sizes=args.sizes[::2],
                           n_validation=args.validation,
                           extra_seeds=range(args.seeds, args.seeds + args.extra_seeds),
                           config=dataclasses.replace(comparison.CROSSOVER_CONFIG,
                                                      steps=args.steps))
        study, show = {"features": (studies.feature_curve, _print_features),
                       "crossover": (comparison.crossover_study, _print_crossover),
                       "map": (cameramap.crossover_map, _print_map),
                       "duplicates": (datastudy.data_study, _print_data)}[args.command]
        result = study(**options).to_json()
        if args.command == "crossover" and not args.no_features:
            curve = studies.feature_curve(sizes=args.sizes, seeds=range(args.seeds),
                                          n_test=args.test, progress=not args.json)
            result["learned_features"] = curve.to_json()["learned_features"]
    except (ValueError, TypeError, ConnectionError) as error:
        parser.error(str(error))
    finally:
        parallel.shutdown()
    if args.json:
        print(json.dumps(result))
    else:
        show(result)
    return 0


def _real(parser, args):
    """Runs the real-pairs study and prints it."""
    try:
        result = realpairs.real_study(seeds=range(args.seeds), progress=not args.json).to_json()
    finally:
        parallel.shutdown()
    print(json.dumps(result) if args.json else _real_table(result))
    return 0


def _speed(parser, args):
    """Measures the executor's throughput and prints it."""
    result = _throughput(args)
    print(json.dumps(result) if args.json else "\n".join(
        f"{k} worker(s): {s:.1f} s, speed-up {x:.2f}, overhead {o * 1e3:.0f} ms per job"
        for k, s, x, o in zip(result["workers"], result["seconds"], result["speedup"],
                              result["overhead_seconds_per_job"])))
    return 0


def _one_method(parser, args):
    """Scores the classical pipeline or one learned model and prints the summary."""
    if args.scenes < 1:
        parser.error("--scenes must be at least 1")
    if args.command == "learned":
        if args.test < 1:
            parser.error("--test must be at least 1")
        if args.recipe == "sweep":
            model = studies.trained_model(args.scenes, seed=args.seed, progress=not args.json)
        else:
            model = comparison.study_models([args.scenes], seed=args.seed,
                                            progress=not args.json)[args.scenes]
        scores = metrics.mean_metrics(learned.evaluate(
            model, tuning.split_scenes(args.split, args.test)))
        summary = {"n_scenes": args.scenes, "seed": args.seed, "recipe": args.recipe,
                   "split": args.split, "n_test": args.test, "steps": model.steps,
                   **{m: float(getattr(scores, m)) for m in METRICS}}
    else:
        summary = {"split": args.split, **tuning.evaluate_classical(
            tuning.split_scenes(args.split, args.scenes), progress=not args.json).summary()}
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0
