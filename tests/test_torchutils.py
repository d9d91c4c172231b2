"""Tests of depthlab.torchutils: one seeding call, deterministic training on a fixed number of
threads, and checkpoints that refuse foreign files."""
import numpy as np
import pytest
import torch

from depthlab import torchutils


def test_one_seeding_call_repeats_every_generator():
    draws = []
    for _ in range(2):
        torchutils.seed_everything(7)
        draws.append((np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]
    with pytest.raises(ValueError, match="seed"):
        torchutils.seed_everything(-1)


def test_the_reproducible_block_sets_and_restores_threads_and_determinism():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torchutils.reproducible(1):
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_a_checkpoint_reader_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        torchutils.read_checkpoint(tmp_path / "none.pt", None, "model", "save")
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a model saved by save"):
        torchutils.read_checkpoint(foreign, None, "model", "save")
    torch.save({"config": {"sizes": [1, 2]}}, tmp_path / "ours.pt")
    read = torchutils.read_checkpoint(tmp_path / "ours.pt", lambda saved, fields:
                                      fields("config"), "model", "save")
    assert read == {"sizes": (1, 2)}  # lists that stand for tuples come back as tuples
