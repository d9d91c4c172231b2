"""The book's torch utilities: one seeding call, deterministic training on a fixed number of
threads, and reading the checkpoints that `learned` and `features` write.
"""
from __future__ import annotations

import contextlib
import pathlib
import pickle
import random

import numpy as np
import torch

from . import _checks

__all__ = ["read_checkpoint", "reproducible", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's global generators (the book's one seeding call).

    Parameters
    ----------
    seed : int
        The seed of all three, from 0 to 2**32 - 1.
    """
    seed = _checks.integer("seed", seed, 0, 2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def reproducible(threads: int):
    """Runs the body on ``threads`` torch threads with deterministic algorithms only, as every
    training loop of the book does, and restores both settings afterwards.

    Parameters
    ----------
    threads : int
        The number of torch threads inside the ``with`` block.

    Yields
    ------
    None
    """
    saved = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1])


def read_checkpoint(path, build, kind: str, writer: str):
    """Reads a file that ``writer`` (a ``save`` function, such as this module's) wrote and
    returns ``build(saved, fields)``: ``saved`` is the stored dictionary and ``fields(name)``
    one of its configurations, with the lists that stand for tuples turned back into tuples.
    Raises FileNotFoundError for a missing file and ValueError for any other file.

    Parameters
    ----------
    path : path-like
        The saved file.
    build : callable
        Called as ``build(saved, fields)``; it makes the object from the stored dictionary.
    kind : str
        What the file holds, such as ``"model"``, for the error messages.
    writer : str
        The name of the ``save`` function that writes such files, for the error messages.

    Returns
    -------
    object
        What ``build`` returns.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved {kind} at {path}")
    try:
        saved = torch.load(path, weights_only=True)

        def fields(name):
            return {k: tuple(v) if isinstance(v, list) else v for k, v in saved[name].items()}

        return build(saved, fields)
    except (KeyError, TypeError, ValueError, RuntimeError, EOFError,
            pickle.UnpicklingError) as error:
        raise ValueError(f"{path} is not a {kind} saved by {writer}: {error}") from error
