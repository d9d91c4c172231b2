"""Benchmark of the chapter notebooks: time, memory, budgets and determinism (run by hand and
on a schedule; not a test).

    python benchmarks/run_notebooks.py                   # every chapter, cold then warm
    python benchmarks/run_notebooks.py 05_crossover 07_loop --cold-only
    python benchmarks/run_notebooks.py --publish OUT     # ... then pack the cold run's cache
    python benchmarks/run_notebooks.py --binder ADDRESS  # as on Binder, from published results

Executes each chapter of ``book/`` (all of them, in order, unless some are named) in a fresh
kernel with one model cache that starts empty: the first chapter runs from a cold cache and
later ones find what earlier ones trained, as a reader's first run does. Then it runs them all
again with the filled cache (warm). For every run it records the wall time and the peak
resident memory of the kernel and of its largest child process (a training worker), and
compares the text outputs, with nbval's rules, with the stored ones and with the other run.

It prints a table, writes everything as JSON to ``benchmarks/results/`` (git-ignored) and
exits with status 1 if a budget of ``BUDGETS`` (from the book's design rules) is exceeded or
an output differs. A full run (every chapter, cold and warm) also rewrites ``book/status.json``,
the measured status the Reproducibility page shows, and re-executes that page.

Cold runs never fetch published results (``DEPTHLAB_RESULTS=off``); ``--publish OUT`` packs
their cache into ``OUT`` afterwards (`depthlab.published.pack`), the folder the book publishes.
``--binder ADDRESS`` measures what a Binder reader gets: one core (this process's CPU affinity,
which the kernels inherit, as ``taskset`` sets it) with Binder's ``CPU_LIMIT=1`` and
``MEM_LIMIT`` of 2 GiB, an empty cache that first fetches every entry published at ``ADDRESS``
(as ``binder/postBuild`` does when the image is built), then every chapter once; each must
take at most ``BUDGETS["binder_chapter_s"]`` and give its stored outputs.

The kernels compute with AVX2 only, as in the test run (`depthlab.cpu`), so that they run the
notebooks the tests check.
"""
import argparse
import collections
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
from depthlab import cpu, published  # noqa: E402

CHAPTERS = sorted(p.stem for p in BOOK.glob("[0-9][0-9]_*.ipynb"))
STATUS = BOOK / "status.json"
STATUS_PAGE = BOOK / "reproducibility.ipynb"
RESULTS = ROOT / "benchmarks" / "results"

# The budgets of the book's design rules, on a 2-core CPU with no GPU.
BUDGETS = {
    "chapter_cold_s": 180.0,
    # The crossover study (8 min) and, in the same chapter, its map across cameras (6 min more).
    "chapter_cold_s_exceptions": {"05_crossover": 480.0 + 360.0, "07_loop": 360.0},
    "book_cold_s": 1800.0,
    "book_warm_s": 120.0,
    "kernel_peak_mb": 1500.0,  # 1.5 GB; Binder gives about 2 GB
    "binder_chapter_s": 120.0,  # a chapter on one core, from the published results
}
BINDER = {"CPU_LIMIT": "1", "MEM_LIMIT": str(2 * 1024 ** 3)}

# The probe first stops the chapter's Dask cluster, if it started one: its worker processes are
# the kernel's children (through their nannies), and a child's peak memory is counted once it
# has ended.
MEMORY = '''
import resource
from depthlab import parallel
parallel.shutdown()
print("BENCHMARK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
'''

# What nbval leaves out when it compares a cell's outputs (nbval 0.11, without --nbdime).
SKIP_COMPARE = {"metadata", "traceback", "prompt_number", "output_type", "name",
                "execution_count", "application/vnd.jupyter.widget-view+json",
                "image/png", "image/jpeg"}


def execute(notebook_path, cache, probe=MEMORY):
    """Runs a notebook in a fresh kernel with ``cache`` as the model cache, with ``probe``
    appended as a last cell that prints "BENCHMARK" and numbers. Returns the wall time, those
    numbers and the executed notebook without the probe."""
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(probe))
    os.environ["DEPTHLAB_CACHE"] = str(cache)  # the kernel inherits this environment
    client = NotebookClient(notebook, timeout=3600, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    probe_cell = notebook.cells.pop()
    text = "".join(o.get("text", "") for o in probe_cell.outputs)
    return seconds, [float(x) for x in text.split("BENCHMARK")[1].split()], notebook


def compared_outputs(notebook):
    """Per code cell whose outputs nbval compares: the cell's index and its outputs as nbval
    compares them (streams of one name joined, every key and MIME type but the skipped ones,
    in order)."""
    result = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", ()) \
                or cell.source.lstrip().startswith(("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")):
            continue
        streams, outputs = {}, collections.defaultdict(list)
        for output in cell.outputs:
            if output.output_type == "stream":
                streams[output.name] = streams.get(output.name, "") + output.text
                continue
            for key, value in output.items():
                if key == "data":
                    for mime, data in value.items():
                        if mime not in SKIP_COMPARE:
                            outputs[mime].append(data)
                elif key not in SKIP_COMPARE:
                    outputs[key].append(value)
        outputs["text"].extend(streams.values())
        result.append((index, dict(outputs)))
    return result


def differences(run, reference):
    """The code cells whose compared outputs differ between two executions of one notebook:
    cell index to the first differing output key and both values (shortened)."""
    found = {}
    for (i, a), (_, b) in zip(compared_outputs(run), compared_outputs(reference)):
        if a != b:
            key = next(k for k in sorted({*a, *b}) if a.get(k) != b.get(k))
            found[i] = {"key": key, "run": str(a.get(key))[:300],
                        "reference": str(b.get(key))[:300]}
    return found


def machine():
    """The machine and environment a measurement was made on."""
    model = re.search(r"^model name\s*:\s*(.+)$", pathlib.Path("/proc/cpuinfo").read_text(),
                      re.M) if pathlib.Path("/proc/cpuinfo").exists() else None
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": model.group(1).strip() if model else platform.processor(),
            "cores": len(os.sched_getaffinity(0)), "memory_gb": round(memory / 1e9, 1),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "cpu_settings": dict(cpu.AVX2)}


def packages():
    """The installed version of every package ``requirements.txt`` pins (not its options,
    such as ``-e .``)."""
    names = [re.split(r"[=<>!~\[ ]", line, maxsplit=1)[0]
             for line in (ROOT / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith(("#", "-"))]
    return {name: importlib.metadata.version(name) for name in names}


def commit():
    """The checked-out commit, with "+changes" if the tree has uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    head = git("rev-parse", "--short", "HEAD").strip()
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def over_budget(chapters, states):
    """The budgets a run exceeded, as sentences."""
    misses = []
    for name, runs in chapters.items():
        limit = BUDGETS["chapter_cold_s_exceptions"].get(name, BUDGETS["chapter_cold_s"])
        if "cold" in runs and runs["cold"]["seconds"] > limit:
            misses.append(f"{name}: {runs['cold']['seconds']:.0f} s cold > {limit:.0f} s")
        if "binder" in runs and runs["binder"]["seconds"] > BUDGETS["binder_chapter_s"]:
            misses.append(f"{name}: {runs['binder']['seconds']:.0f} s on Binder > "
                          f"{BUDGETS['binder_chapter_s']:.0f} s")
        for state, run in runs.items():
            if run["kernel_peak_mb"] > BUDGETS["kernel_peak_mb"]:
                misses.append(f"{name} ({state}): kernel peak {run['kernel_peak_mb']:.0f} MB "
                              f"> {BUDGETS['kernel_peak_mb']:.0f} MB")
    if len(chapters) == len(CHAPTERS):  # the book's totals only mean something for all of it
        for state in (s for s in states if f"book_{s}_s" in BUDGETS):
            total, limit = sum(r[state]["seconds"] for r in chapters.values()), \
                BUDGETS[f"book_{state}_s"]
            if total > limit:
                misses.append(f"the book, {state}: {total:.0f} s > {limit:.0f} s")
    return misses


def main():
    cpu.hold_to_avx2()  # the kernels inherit this environment
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=CHAPTERS,
                        help="notebook names in book/, e.g. 05_crossover (default: every chapter)")
    parser.add_argument("--cold-only", action="store_true", help="skip the warm run")
    parser.add_argument("--publish", metavar="OUT", type=pathlib.Path,
                        help="pack the cold run's cache into OUT, to publish")
    parser.add_argument("--binder", metavar="ADDRESS",
                        help="Binder mode: one core, from the results published at ADDRESS")
    args = parser.parse_args()
    names = [name.removesuffix(".ipynb") for name in args.chapters]
    for name in names:
        if name not in CHAPTERS:
            parser.error(f"no chapter {name!r} in book/; the chapters are {', '.join(CHAPTERS)}")
    states = ("cold",) if args.cold_only else ("cold", "warm")
    os.environ[published.VARIABLE] = "off"  # the kernels inherit it
    if args.binder:
        states = ("binder",)
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
        os.environ.update(BINDER, **{published.VARIABLE: args.binder})
    chapters, executed, fetched = {name: {} for name in names}, {}, None
    with tempfile.TemporaryDirectory() as cache:
        if args.binder:  # binder/postBuild, when the image is built
            os.environ["DEPTHLAB_CACHE"] = cache
            start = time.perf_counter()
            fetched = {"entries": published.fetch_all(),
                       "seconds": round(time.perf_counter() - start, 1)}
            print(f"fetched {fetched['entries']} entries in {fetched['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
        for state in states:
            for name in names:
                path = BOOK / f"{name}.ipynb"
                seconds, (kernel_mb, child_mb), notebook = execute(path, cache)
                run = {"seconds": round(seconds, 1), "kernel_peak_mb": round(kernel_mb),
                       "worker_peak_mb": round(child_mb),
                       "cells_differing_from_stored": differences(
                           notebook, nbformat.read(path, as_version=4))}
                if state == "warm":
                    run["cells_differing_from_cold"] = differences(notebook, executed[name])
                executed[name] = notebook
                chapters[name][state] = run
                print(f"{name} ({state}): {seconds:.0f} s, peak RSS kernel {kernel_mb:.0f} MB, "
                      f"largest child {child_mb:.0f} MB", file=sys.stderr, flush=True)
        if args.publish:
            os.environ["DEPTHLAB_CACHE"] = cache
            manifest = published.pack(args.publish)
            print(f"packed {len(manifest['files'])} files into {args.publish}", file=sys.stderr)
    misses = over_budget(chapters, states)
    unstable = [f"{name} ({state}): cells {sorted(run[key])} differ from {what}"
                for name, runs in chapters.items() for state, run in runs.items()
                for key, what in (("cells_differing_from_stored", "the stored outputs"),
                                  ("cells_differing_from_cold", "the cold run"))
                if run.get(key)]
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": commit(), "machine": machine(), "packages": packages(),
              "budgets": BUDGETS, "chapters": chapters,
              "totals": {state: round(sum(r[state]["seconds"] for r in chapters.values()), 1)
                         for state in states},
              "over_budget": misses, "not_deterministic": unstable,
              **({"binder": {**BINDER, "address": args.binder, "fetched": fetched}}
                 if args.binder else {})}

    header = f"{'chapter':<20}" + "".join(f"{s + ' s':>9}{s + ' MB':>10}" for s in states) \
        + f"{'worker MB':>11}{'outputs':>10}"
    print(header)
    for name, runs in chapters.items():
        same = not any(run.get(key) for run in runs.values()
                       for key in ("cells_differing_from_stored", "cells_differing_from_cold"))
        print(f"{name:<20}" + "".join(f"{runs[s]['seconds']:>9.0f}{runs[s]['kernel_peak_mb']:>10}"
                                      for s in states)
              + f"{max(r['worker_peak_mb'] for r in runs.values()):>11}"
              + f"{'same' if same else 'DIFFER':>10}")
    print(f"{'the book':<20}" + "".join(f"{report['totals'][s]:>9.0f}{'':>10}" for s in states))
    for line in misses:
        print("OVER BUDGET:", line)
    for line in unstable:
        print("NOT DETERMINISTIC:", line)

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"run_notebooks-{report['date'].replace(':', '')}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    if names == CHAPTERS and states in (("cold", "warm"), ("binder",)):
        if states == ("binder",):  # beside the last full run's measurements
            report = {**json.loads(STATUS.read_text()),
                      "binder": {**{key: report[key] for key in
                                    ("date", "commit", "machine", "budgets", "chapters",
                                     "totals", "over_budget", "not_deterministic")},
                                 "settings": report["binder"]}}
        STATUS.write_text(json.dumps(report, indent=1) + "\n")
        NotebookClient(page := nbformat.read(STATUS_PAGE, as_version=4), timeout=600,
                       kernel_name="python3",
                       resources={"metadata": {"path": str(BOOK)}}).execute()
        nbformat.write(page, STATUS_PAGE)
        print(f"wrote {STATUS.relative_to(ROOT)} and re-executed {STATUS_PAGE.relative_to(ROOT)}")
    return 1 if misses or unstable else 0


if __name__ == "__main__":
    sys.exit(main())
