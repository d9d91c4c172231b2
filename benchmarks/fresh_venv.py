"""Benchmark: the README's two commands on a fresh clone in a fresh virtual environment (run by
hand and weekly; not a test).

    python benchmarks/fresh_venv.py                      # clone, venv, install, pytest --nbval
    python benchmarks/fresh_venv.py --cache ~/.cache/depthlab-shared -- tests/

Clones the repository's committed ``HEAD`` into a temporary folder, creates a virtual
environment there with none of this machine's packages, runs ``pip install -r
requirements.txt`` in it, then ``pytest --nbval`` (or pytest with the arguments after ``--``),
as a new reader does. The tests then run inside a virtual environment and from a checkout that
nothing else uses, which ``.ci/run`` (a system-wide install) does not check.

The model cache starts empty in the clone, so the notebooks compute everything (about an hour
on two cores); ``--cache`` gives a cache folder instead (``DEPTHLAB_CACHE``), for instance one
that a run of the book has filled. It prints one JSON object (the commit, pip's and pytest's
exit statuses, pytest's closing line, the seconds of each step) and exits with status 1 if
either command failed. ``--keep`` keeps the clone and its environment, and prints where.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import venv

ROOT = pathlib.Path(__file__).resolve().parents[1]


def timed(command, **kwargs):
    """Runs ``command``, printing its output as it goes; returns (exit status, seconds, last
    line printed)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, **kwargs)
    last = ""
    for line in process.stdout:
        sys.stderr.write(line)
        last = line.strip() or last
    return process.wait(), round(time.perf_counter() - start, 1), last


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=pathlib.Path,
                        help="the model cache folder to use (default: the clone's own, empty)")
    parser.add_argument("--keep", action="store_true", help="keep the clone and its environment")
    parser.add_argument("pytest_args", nargs="*", default=["--nbval"],
                        help="arguments for pytest, after -- (default: --nbval)")
    args = parser.parse_args()

    folder = pathlib.Path(tempfile.mkdtemp(prefix="depthlab-fresh-"))
    clone, env_dir = folder / "book", folder / "venv"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout.strip()
    venv.EnvBuilder(with_pip=True).create(env_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(env_dir), PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    if args.cache is not None:
        env["DEPTHLAB_CACHE"] = str(args.cache.expanduser().resolve())
    python = str(env_dir / "bin" / "python")

    pip = timed([python, "-m", "pip", "install", "-r", "requirements.txt"], cwd=clone, env=env)
    tests = (timed([python, "-m", "pytest", "-p", "no:cacheprovider", *args.pytest_args],
                   cwd=clone, env=env) if pip[0] == 0 else (None, 0.0, "not run"))
    print(json.dumps({"commit": commit, "python": python, "cache": env.get("DEPTHLAB_CACHE"),
                      "pip_install": {"exit_status": pip[0], "seconds": pip[1]},
                      "pytest": {"args": args.pytest_args, "exit_status": tests[0],
                                 "seconds": tests[1], "closing_line": tests[2]},
                      "kept": str(folder) if args.keep else None}, indent=2))
    if not args.keep:
        shutil.rmtree(folder)
    return 0 if pip[0] == 0 and tests[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
