"""Shared fixtures: the folder of reference data and deterministic global RNG state."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

DATA_DIR = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder of reference tensors and checkpoints produced by the original culture code."""
    return DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def single_torch_thread():
    """Run torch on one thread, as when the reference outputs were produced. This also
    avoids thread contention on small shared machines. In one measurement on 2 busy cores,
    decoding 404 positions one at a time took 8 s with 2 threads and 0.25 s with one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def seed_everything():
    """Seed torch, random and numpy before every test, so that code drawing from the
    global generators behaves the same on every run."""
    torch.manual_seed(0)
    random.seed(0)
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(0)
