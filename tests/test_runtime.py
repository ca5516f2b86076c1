"""One seed and one device resolution for every command (gptkit.runtime)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from gptkit.errors import UsageError
from gptkit.runtime import resolve_device, seed_everything


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(2))
    seed_everything(7)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert first[:2] == again[:2] and torch.equal(first[2], again[2])
    seed_everything(2**32 + 7)  # beyond NumPy's range: reduced, not refused
    assert np.random.rand() == first[1]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="train.device: unknown device 'gpu0'"):
        resolve_device("gpu0", "train.device")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="--device=cuda:1 but no CUDA device"):
            resolve_device("cuda:1")

