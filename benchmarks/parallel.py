"""Benchmark of the studies' executor, `depthlab.parallel` (run by hand; not a test).

    python benchmarks/parallel.py            # about 6 minutes on 2 cores

Measures the targets of the executor on this machine, in a temporary model cache, except the
warm run, which reads the book's own cache (run the chapters first, e.g. with
``benchmarks/run_notebooks.py`` or ``pytest --nbval``):

- the scheduler's overhead per training job, as a share of the job's own time (on one worker,
  where no job waits for another): target <= 3 %;
- the throughput of 2 workers against 1, on jobs of the sweep's recipe: target >= 1.7x;
- a warm run of the crossover sweep and the data study, everything cached: it submits nothing
  (no cluster is started) and adds <= 2 s over reading the cached files;
- the peak memory of a worker that trains the sweep's largest model: target <= 1.2 GB.

It prints a table, writes JSON to ``benchmarks/results/`` (git-ignored) and exits with status 1
if a target is missed. The kernels' peak memory (target <= 1.5 GB) is measured by
``benchmarks/run_notebooks.py``.
"""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
from depthlab import cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

# A fresh interpreter times the warm studies (after the imports) against reading the files they
# read, and reports whether it started a cluster.
WARM = '''
import json, time
from depthlab import cache, experiments, parallel
start = time.perf_counter()
experiments.sweep(progress=False)
experiments.data_study(progress=False)
studies = time.perf_counter() - start
start = time.perf_counter()
for prefix in ("sweep", "features", "data"):
    for path in cache.directory().glob(prefix + "-*.json"):
        json.loads(path.read_text())
reading = time.perf_counter() - start
print(json.dumps({"studies_s": studies, "reading_s": reading,
                  "clusters_started": len(parallel._CLIENTS)}))
'''


def peak_rss_mb():
    """Worker: this process's peak resident memory, in MB."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    cpu.hold_to_avx2()
    from depthlab import experiments, learned, parallel

    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DEPTHLAB_CACHE"] = folder
        scaling = experiments.throughput(workers=(1, 2), jobs=6, n_scenes=experiments.SIZES[3],
                                         steps=experiments.SWEEP_CONFIG.steps)
        job = sum(t.seconds for t in scaling.tasks[0]) / len(scaling.tasks[0])
        report["throughput"] = {"workers": list(scaling.workers),
                                "seconds": list(scaling.seconds), "job_seconds": job,
                                "speedup": float(scaling.speedup()[1]),
                                "overhead_share": float(scaling.overhead()[0] / job)}
        # the largest model of the sweep, one per worker
        largest = experiments.SIZES[-1]
        experiments.train_models([(largest, seed, learned.DataConfig()) for seed in (0, 1)],
                                 config=experiments.SWEEP_CONFIG, desc="largest models")
        report["worker_peak_mb"] = max(parallel.client().run(peak_rss_mb).values())
        parallel.shutdown()
    del os.environ["DEPTHLAB_CACHE"]
    warm = subprocess.run([sys.executable, "-c", WARM], cwd=BOOK, capture_output=True,
                          text=True, check=True)
    report["warm"] = json.loads(warm.stdout)

    t, w = report["throughput"], report["warm"]
    checks = [
        ("scheduler overhead per job",
         f"{t['overhead_share']:.2%} of a {t['job_seconds']:.1f} s job", "<= 3%",
         t["overhead_share"] <= 0.03),
        ("2 workers against 1", f"{t['speedup']:.2f}x", ">= 1.7x", t["speedup"] >= 1.7),
        ("warm run: clusters started", str(w["clusters_started"]), "0",
         w["clusters_started"] == 0),
        ("warm run over reading the cache",
         f"{1e3 * (w['studies_s'] - w['reading_s']):.1f} ms ({1e3 * w['studies_s']:.1f} ms "
         f"against {1e3 * w['reading_s']:.1f} ms)", "<= 2 s",
         w["studies_s"] - w["reading_s"] <= 2.0),
        ("worker peak memory", f"{report['worker_peak_mb']:.0f} MB", "<= 1200 MB",
         report["worker_peak_mb"] <= 1200),
    ]
    report["checks"] = [{"what": what, "measured": measured, "target": target, "met": met}
                        for what, measured, target, met in checks]
    for what, measured, target, met in checks:
        print(f"{what:<34} {measured:<40} {target:>11}  {'yes' if met else 'NO'}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"parallel-{report['date'].replace(':', '')}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(met for *_, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
