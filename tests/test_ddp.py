"""`gptkit train` under torchrun (2 processes, gloo on CPU) equals single-process training
with the same global batch: DDP and FSDP2, with gradient accumulation, and FSDP resume."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO, run_gptkit
from safetensors.torch import load_file
from train_data import make_token_dir

from gptkit.train.checkpoint import latest_checkpoint, read_state
from gptkit.train.metrics import read_jsonl

RECIPE = """
[train]
steps = 8
block_size = 32
micro_batch = 4
batch_tokens = 512   # 4 sequences x 32 tokens x 2 processes x 2 accumulation micro-steps
log_interval = 1
eval_interval = 4
eval_batches = 2
threads = 1
device = "cpu"
[train.model]
preset = "nano"
n_layer = 2
n_head = 2
n_embd = 32
dropout = 0.0        # dropout draws differ per process, so equality needs none
[train.optim]
lr = 3e-3
[train.schedule]
warmup_steps = 3
[train.checkpoint]
interval = 4
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    tokens = make_token_dir(root / "tokens")
    recipe = root / "ddp.toml"
    recipe.write_text(textwrap.dedent(RECIPE))
    # Single process: the loader hands rank r the r-th slice of each global batch, so one process
    # with micro_batch 8 sees exactly the rows that two processes with micro_batch 4 see together.
    proc = run_gptkit("--quiet", "train", "-r", recipe, "--data", tokens, "--out", root / "single",
                      "--set", "train.micro_batch=8")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root, tokens, recipe


def torchrun(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gptkit", "--quiet", "train", *map(str, args)]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def _losses(run):
    return [(r["step"], r["loss"]) for r in read_jsonl(run / "metrics.jsonl") if "loss" in r]


def _assert_equivalent(run, single):
    got, want = _losses(run), _losses(single)
    assert [s for s, _ in got] == [s for s, _ in want] == list(range(1, 9))
    assert [loss for _, loss in got] == pytest.approx([loss for _, loss in want], rel=1e-5)
    wa = load_file(str(latest_checkpoint(run) / "model.safetensors"))
    wb = load_file(str(latest_checkpoint(single) / "model.safetensors"))
    for key in wb:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-4, atol=1e-5)


def test_ddp_two_processes_equal_single_process(setup):
    root, tokens, recipe = setup
    proc = torchrun("-r", recipe, "--data", tokens, "--out", root / "ddp")
    assert proc.returncode == 0, proc.stderr
    _assert_equivalent(root / "ddp", root / "single")
    state = read_state(latest_checkpoint(root / "ddp"))
    assert state["world_size"] == 2 and state["distributed"] == "ddp" and state["grad_accum"] == 2
    assert len(state["rng"]) == len(state["loader"]) == 2


@pytest.mark.slow
def test_fsdp_two_processes_equal_single_process_and_resume(setup):
    root, tokens, recipe = setup
    run = root / "fsdp"
    proc = torchrun("-r", recipe, "--data", tokens, "--out", run, "--set", "train.distributed=fsdp",
                    "--set", "train.stop_after=4")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert latest_checkpoint(run).name == "step_00000004"
    proc = torchrun("-r", recipe, "--data", tokens, "--out", run, "--set", "train.distributed=fsdp")
    assert proc.returncode == 0, proc.stderr
    _assert_equivalent(run, root / "single")
    assert read_state(latest_checkpoint(run))["distributed"] == "fsdp"

    # A checkpoint of 2 processes does not silently resume with another number of processes.
    proc = run_gptkit("train", "-r", recipe, "--data", tokens, "--out", run, "--steps", "10")
    assert proc.returncode == 2 and "written by 2 processes" in proc.stderr
