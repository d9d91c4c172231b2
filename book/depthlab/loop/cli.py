"""The loop's command line: ``python -m depthlab.loop run --db PATH --rounds R ...``."""
from __future__ import annotations

import argparse
import json

from .config import DRIFTS, STRATEGIES, LoopConfig
from .runner import default_db, run

__all__ = ["main"]


def main(argv=None) -> int:
    """The command line: ``run --db PATH --rounds R --budget B --strategy S --seed K``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program's name; None reads them from ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0. Bad arguments or settings exit through argparse (status 2) instead.
    """
    parser = argparse.ArgumentParser(prog="python -m depthlab.loop",
                                     description="Run the continuous improvement loop.")
    commands = parser.add_subparsers(dest="command", required=True)
    go = commands.add_parser("run", help="run (or resume) the loop up to --rounds rounds")
    go.add_argument("--db", help="the loop's SQLite database (default: one per "
                    "configuration, in the model cache)")
    go.add_argument("--rounds", type=int, required=True, help="total rounds wanted")
    defaults = LoopConfig()
    go.add_argument("--budget", type=int, default=defaults.budget, help="labels per round")
    go.add_argument("--strategy", default=defaults.strategy, choices=STRATEGIES)
    go.add_argument("--seed", type=int, default=defaults.seed)
    go.add_argument("--retrain", default=defaults.retrain, choices=("finetune", "scratch"))
    go.add_argument("--stream", type=int, default=defaults.stream, help="scenes per round")
    go.add_argument("--steps", type=int, default=defaults.steps, help="fine-tuning steps")
    go.add_argument("--initial", type=int, default=defaults.initial,
                    help="training scenes of the first model")
    go.add_argument("--initial-steps", type=int, default=defaults.initial_steps)
    go.add_argument("--held-out", type=int, default=defaults.held_out)
    go.add_argument("--test", type=int, default=defaults.test)
    go.add_argument("--phase-rounds", type=int, default=defaults.phase_rounds,
                    help="rounds per phase of the drift")
    go.add_argument("--drift", default=defaults.drift, choices=DRIFTS)
    go.add_argument("--lr", type=float, default=defaults.lr, help="fine-tuning learning rate")
    go.add_argument("--replay", type=float, default=defaults.replay,
                    help="replayed first-phase scenes per label bought")
    go.add_argument("--confidence", type=float, default=defaults.confidence,
                    help="the gate's one-sided bootstrap level")
    go.add_argument("--tolerance", type=float, default=defaults.tolerance,
                    help="the largest regression (AbsRel) allowed on an earlier phase")
    go.add_argument("--classical", type=json.loads, default=None,
                    help="motion stereo's parameters, as a JSON object (default: the tuned "
                    "ones, see experiments.tune_classical)")
    go.add_argument("--json", action="store_true", help="print one JSON list of the rounds")
    args = parser.parse_args(argv)
    try:
        config = LoopConfig(budget=args.budget, strategy=args.strategy, seed=args.seed,
                            stream=args.stream, initial=args.initial,
                            initial_steps=args.initial_steps, held_out=args.held_out,
                            test=args.test, retrain=args.retrain, steps=args.steps,
                            lr=args.lr, replay=args.replay, phase_rounds=args.phase_rounds,
                            drift=args.drift, confidence=args.confidence,
                            tolerance=args.tolerance,
                            classical=None if args.classical is None
                            else tuple(sorted(dict(args.classical).items())))
        db = args.db or default_db(config)
        records = run(db, args.rounds, config=config, progress=not args.json)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if args.json:
        print(json.dumps(records))
    else:
        for r in records:
            served, decision = r["served"], r["decision"]
            print(f"round {r['round']:>3} ({r['phase']}): served AbsRel deployed "
                  f"{served['deployed']:.3f}, frozen {served['frozen']:.3f}, classical "
                  f"{served['classical']:.3f}; {r['labels']} labels, cost "
                  f"{r['cost']['total']:.0f}; gate gain {decision['gain']:+.3f} (lower "
                  f"{decision['lower']:+.3f}): " + ("deployed" if r["deployed"] else "rejected"))
    return 0
