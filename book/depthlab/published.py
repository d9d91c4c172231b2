"""Published results: the cache of a cold run of every chapter, so that a reader starts warm.

A workflow runs every notebook from an empty cache, then packs what that run computed
(`pack`): each file of the cache folder compressed, and a manifest with the SHA-256 sum of
each and the `cache.package_digest` of the code that computed them. It publishes the folder
beside the site. On a cache miss (`cache.present`), `fetch` looks the entry up in the published
manifest and downloads it with pooch, which checks the sum: a download that fails the check is
deleted, and the entry is computed here. So is every entry when the published results cannot
be reached (offline), or were computed by other code; one line on the standard error says so,
once per process.

``$DEPTHLAB_RESULTS`` sets the address (`ADDRESS` by default); ``DEPTHLAB_RESULTS=off`` turns
fetching off. The tests and ``.ci/run`` turn it off, so that they compute every number from
scratch.

Command line::

    python -m depthlab.published pack OUT    # the cache folder, packed into OUT
    python -m depthlab.published fetch       # every published entry, into the cache folder
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import lzma
import os
import pathlib
import shutil
import sys
import tempfile

import pooch
import requests

from . import cache

__all__ = ["ADDRESS", "MANIFEST", "TIMEOUT", "VARIABLE", "address", "fetch", "fetch_all",
           "manifest", "pack"]

#: Where the book's workflow publishes the results: beside the site.
ADDRESS = "https://software-2-0-2-0.github.io/book/results"
#: The environment variable that overrides `ADDRESS`; ``off`` turns fetching off.
VARIABLE = "DEPTHLAB_RESULTS"
#: The manifest's name at the address; the files are under ``files/``, each compressed with xz
#: (LZMA: a fifth smaller than gzip on the book's arrays).
MANIFEST = "manifest.json"
#: Seconds without an answer after which a download is abandoned.
TIMEOUT = 10

_FAILURES = (requests.RequestException, OSError, ValueError)

pooch.get_logger().setLevel("WARNING")  # one line when something fails, nothing otherwise


def _downloader():
    """pooch's HTTP downloader, without a progress bar, giving up on a silent server after
    `TIMEOUT` seconds (offline, a reader waits that long once)."""
    return pooch.HTTPDownloader(progressbar=False, timeout=TIMEOUT)


def address() -> str | None:
    """Where the published results are (read at each call, so that a test can change it).

    Returns
    -------
    str or None
        ``$DEPTHLAB_RESULTS`` if set, else `ADDRESS`, without a trailing slash; None when the
        variable is ``off``.
    """
    value = os.environ.get(VARIABLE, ADDRESS).strip().rstrip("/")
    return None if value.lower() == "off" else value


def _say(line: str) -> None:
    print(f"depthlab: {line}", file=sys.stderr)


def _sha256(path: pathlib.Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def pack(out) -> dict:
    """Packs every file of the cache folder into ``out``: ``files/<name>.xz`` and the manifest.

    Run it on the cache of a cold run of the current code (a fresh ``$DEPTHLAB_CACHE``), so
    that it holds that code's entries and nothing else.

    Parameters
    ----------
    out : path-like
        The folder to publish; made if missing.

    Returns
    -------
    dict
        The manifest: ``package`` (the code's `cache.package_digest`) and ``files`` (each
        file's path in the cache folder to the SHA-256 of its compressed copy).
    """
    folder, out = cache.directory(), pathlib.Path(out)
    files = {}
    for path in sorted(p for p in folder.rglob("*")
                       if p.is_file() and not p.name.endswith(cache.PARTIAL)):
        name = path.relative_to(folder).as_posix()
        target = out / "files" / f"{name}.xz"
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "rb") as source, lzma.open(target, "wb") as packed:
            shutil.copyfileobj(source, packed)
        files[name] = _sha256(target)
    manifest = {"package": cache.package_digest(), "files": files}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


@functools.lru_cache(maxsize=None)
def _manifest(where: str, package: str) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        try:
            path = pooch.retrieve(f"{where}/{MANIFEST}", known_hash=None, path=folder,
                                  fname=MANIFEST, downloader=_downloader())
            published = json.loads(pathlib.Path(path).read_text())
        except _FAILURES as error:
            _say(f"no published results at {where} ({type(error).__name__}); computing "
                 f"locally")
            return None
    if published.get("package") != package:
        _say(f"the published results at {where} were computed by other code; computing "
             f"locally")
        return None
    return published["files"]


def manifest() -> dict | None:
    """The published files for this code (fetched once per process and address).

    Returns
    -------
    dict or None
        Each file's path in the cache folder to its SHA-256; None when fetching is off, the
        address cannot be reached or its results belong to other code (said once).
    """
    where = address()
    return None if where is None else _manifest(where, cache.package_digest())


def _download(where, name, digest, target):
    with tempfile.TemporaryDirectory(prefix="depthlab-") as folder:
        path = pooch.retrieve(f"{where}/files/{name}.xz", known_hash=f"sha256:{digest}",
                              path=folder, fname="entry.xz", downloader=_downloader(),
                              processor=pooch.Decompress(method="xz", name="entry"))
        cache.write_atomic(target, lambda partial: shutil.copyfile(path, partial))


def fetch(path) -> bool:
    """Fetches a missing cache entry from the published results.

    An entry is its file and every file whose name continues it (a loop's database and its
    checkpoints in ``<name>.models/``); the file itself comes last, so that its presence
    means the whole entry is here.

    Parameters
    ----------
    path : path-like
        The entry's path, from `cache.entry`.

    Returns
    -------
    bool
        True if the entry is now in the cache; False if it is not published for this code,
        fetching is off or failed (a file that fails its SHA-256 check is deleted).
    """
    path = pathlib.Path(path)
    files = manifest()
    if files is None or path.name not in files:
        return False
    folder = path.parent
    names = sorted((n for n in files if n == path.name or n.startswith(f"{path.name}.")),
                   key=lambda n: (n == path.name, n))
    try:
        for name in names:
            if not (folder / name).is_file():
                _download(address(), name, files[name], folder / name)
    except _FAILURES as error:
        _say(f"could not fetch {path.name} ({type(error).__name__}: {error}); computing it "
             f"locally")
        return False
    return True


def fetch_all() -> int:
    """Fetches every published entry that the cache folder lacks: a warm start at once, as
    Binder's image build does (``python -m depthlab.published fetch``).

    Returns
    -------
    int
        How many published entries are now in the cache folder.
    """
    files = manifest() or {}
    tops = [n for n in files if "/" not in n]
    return sum(fetch(cache.directory() / n) for n in tops)


def main(argv=None) -> int:
    """The command line: ``pack OUT`` or ``fetch``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments, without the program's name; None reads them from ``sys.argv``.

    Returns
    -------
    int
        The exit status, 0. Bad arguments exit through argparse (status 2) instead.
    """
    parser = argparse.ArgumentParser(prog="python -m depthlab.published",
                                     description="Published results of the book's studies.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pack", help="pack the cache folder for publishing").add_argument(
        "out", type=pathlib.Path, help="the folder to write")
    commands.add_parser("fetch", help="fetch every published entry into the cache folder")
    args = parser.parse_args(argv)
    if args.command == "pack":
        packed = pack(args.out)
        size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
        print(f"{len(packed['files'])} files, {size / 1e6:.1f} MB, in {args.out}")
    else:
        print(f"{fetch_all()} entries in {cache.directory()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
