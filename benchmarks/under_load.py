"""Benchmark: the chapters pass nbval on a machine that is busy with other work (run by hand
and weekly; not a test).

    python benchmarks/under_load.py                      # every chapter, from the cache as it is
    python benchmarks/under_load.py 09_infrastructure --cold

A timing asserted on wall time fails whenever another program takes the CPU, so the chapters
assert timings only as interleaved rounds with the fastest kept (`depthlab.timing`), as ratios
of times measured together with a stated margin, or as counted work. This benchmark checks
that they hold: it starts one busy process per core (``stress-ng --cpu``, or spinning Python
processes where stress-ng is not installed), runs the README's test command, ``pytest
--nbval``, on the chapters, and stops the load.

With the model cache as it is (warm after one run of the book), the timings that the chapters
measure in their own kernel meet the load; the timings that the studies recorded while
training come from the cache. ``--cold`` starts from an empty cache (in a temporary folder),
so that every study trains, and records its timings, under the load too: expect twice the
chapters' cold times.

It prints one JSON object (the load, the chapters, pytest's closing line and exit status, the
wall time) and exits with pytest's status.
"""
import argparse
import json
import multiprocessing
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _spin():
    while True:
        pass


def start_load(n_processes):
    """One busy process per core: stress-ng's CPU stressors where installed, else Python's."""
    if shutil.which("stress-ng"):
        process = subprocess.Popen(["stress-ng", "--cpu", str(n_processes), "--quiet"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return f"stress-ng --cpu {n_processes}", [process]
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n_processes)]
    for p in spinners:
        p.start()
    return f"{n_processes} spinning Python processes", spinners


def stop_load(processes):
    for p in processes:
        p.terminate()
    for p in processes:
        if isinstance(p, subprocess.Popen):
            p.wait(timeout=30)
        else:
            p.join(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=CHAPTERS,
                        help="chapter names (default: every chapter)")
    parser.add_argument("--load", type=int, default=os.cpu_count(),
                        help="busy processes (default: one per core)")
    parser.add_argument("--cold", action="store_true",
                        help="start from an empty model cache, in a temporary folder")
    args = parser.parse_args()
    unknown = sorted(set(args.chapters) - set(CHAPTERS))
    if unknown:
        parser.error(f"no such chapter: {', '.join(unknown)}; chapters are {', '.join(CHAPTERS)}")
    if args.load < 1:
        parser.error(f"--load must be at least 1, got {args.load}")

    env = dict(os.environ)
    cold_cache = tempfile.TemporaryDirectory(prefix="depthlab-cold-") if args.cold else None
    if cold_cache is not None:
        env["DEPTHLAB_CACHE"] = cold_cache.name
    command = [sys.executable, "-m", "pytest", "--nbval", "-p", "no:cacheprovider",
               *(f"book/{c}.ipynb" for c in args.chapters)]
    load, processes = start_load(args.load)
    start = time.perf_counter()
    try:
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    finally:
        stop_load(processes)
        if cold_cache is not None:
            cold_cache.cleanup()
    seconds = time.perf_counter() - start
    lines = run.stdout.strip().splitlines()
    failures = [line for line in lines if line.startswith("FAILED")]
    print(json.dumps({"load": load, "cores": os.cpu_count(), "cold": args.cold,
                      "chapters": args.chapters, "pytest": lines[-1] if lines else run.stderr,
                      "failed": failures, "exit_status": run.returncode,
                      "seconds": round(seconds, 1)}, indent=2))
    if run.returncode != 0:
        print(run.stdout[-20000:], file=sys.stderr)
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
