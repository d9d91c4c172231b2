"""The continuous improvement loop: deploy, monitor, select, label, retrain, gate, redeploy.

A deployed model (the *champion*) serves a stream of unlabelled scenes from a world that
drifts over the rounds (`PHASES`, abruptly or gradually: `DRIFTS`). Each round it is monitored
without labels (`monitor`, with drift alarms between rounds: `alarm`), a batch of the stream
is chosen for labelling under a budget, the labels are bought at the price of
`experiments.CostModel`, a *challenger* is fine-tuned on every label bought so far (with the
recipe that `tune_recipe` chose on validation scenes), and a gate deploys it only if a paired
bootstrap on a fixed held-out set of the current phase says it is better and it does not
regress on the earlier phases' sets (`gate`). For the record, and never read by the loop,
each round also scores the champion, the frozen first model and the strongest classical
method (`LoopConfig.classical`) on the stream that was served, and the models on a separate
test set.

All state lives in one SQLite database (`run` takes its path): the scenes seen, the labels
bought and their cost, every model (checkpoint file and scores, rejected challengers too),
the deployments and per-round metrics. A round is one transaction, committed after its
checkpoint file is written and flushed to the disk, so a process killed at any moment resumes
from the last committed round: no label is lost or counted twice, and no checkpoint is
referenced without its file. SQLite runs with ``synchronous=FULL``, so a committed round also
survives a power loss. The database keeps each checkpoint's SHA-256; on resume, the temporary
files of interrupted writes are removed and every checkpoint is checked, and a damaged or
missing one is never used: the rounds from the first damaged one on are rolled back and
computed again (the loop is deterministic, so they come out the same).

Several loops run side by side with `run_many`, as jobs on the workers of `depthlab.parallel`
(a local cluster, or a remote one), each in its own database in the model cache. The loops of
one seed and drift serve the same stream, so what the strategy cannot change is computed once
for all of them.

The package has one module per part: `config` (the settings, the drift and the stream),
`policy` (monitor, select, alarm, gate), `store` (the database), `rounds` (one round, a
function per step), `runner` (running loops, and the recipe's tuning) and `cli`.

Command line (run from ``book/``)::

    python -m depthlab.loop run --db PATH --rounds R --budget B --strategy S --seed K --json
"""
from .cli import main
from .config import (DRIFTS, PHASES, RECIPE_GRID, RECIPE_VALIDATION, SIGNALS, STEPS, STRATEGIES,
                     LoopConfig, phase, stream_mix, tuned)
from .policy import alarm, gate, monitor, select
from .rounds import Round
from .runner import default_db, run, run_many, tune_recipe

__all__ = ["DRIFTS", "PHASES", "RECIPE_GRID", "RECIPE_VALIDATION", "SIGNALS", "STEPS",
           "STRATEGIES", "LoopConfig", "Round", "alarm", "default_db", "gate", "main", "monitor",
           "phase", "run", "run_many", "select", "stream_mix", "tune_recipe", "tuned"]
