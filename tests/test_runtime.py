"""One seed and one device resolution for every command (gptkit.runtime)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

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



_PAGE_FAULTS_OF_TRAINING_STEPS = """
import resource, sys, torch
from gptkit.model.gpt import GPT, preset
from gptkit.runtime import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
model = GPT(preset("mini", n_layer=1, n_embd=64, n_head=2, block_size=128, vocab_size=40000))
optimizer = torch.optim.AdamW(model.parameters(), fused=True)
x, y = torch.randint(0, 40000, (4, 128)), torch.randint(0, 40000, (4, 128))
def step():
    model(x, y)[1].backward(); optimizer.step(); optimizer.zero_grad(set_to_none=True)
for _ in range(10): step()  # the kept heap settles: a step may still grow it by a chunk early on
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3): step()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_lets_training_steps_reuse_their_pages():
    """Steps 11-13 of a model with 80 MB logits chunks: pages faulted in by the default allocator
    every step, reused once freed blocks are kept."""

    def faults(mode: str) -> tuple[str, int]:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", _PAGE_FAULTS_OF_TRAINING_STEPS, mode], capture_output=True,
                             text=True, check=True, env=env).stdout.split()  # fmt: skip
        return out[0], int(out[1])

    default_applied, default_faults = faults("default")
    applied, kept_faults = faults("keep")
    assert default_applied == "False" and default_faults > 30_000  # ≥ 40 MB of fresh pages per step
    assert applied == "True" and kept_faults < default_faults / 4
