"""Exact resume: N steps straight == N/2 steps, stop (or SIGKILL), resume, N/2 more — bit for bit on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO, run_gptkit
from safetensors.torch import load_file
from train_data import make_token_dir, tiny_config

from gptkit.config import dump_toml
from gptkit.train.checkpoint import latest_checkpoint, load_optimizer_state, read_state
from gptkit.train.metrics import read_jsonl
from gptkit.train.trainer import train


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return make_token_dir(tmp_path_factory.mktemp("data") / "tokens")


def _losses(run_dir):
    return {r["step"]: r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl") if "loss" in r}


def _assert_same_final_state(a, b):
    ca, cb = latest_checkpoint(a), latest_checkpoint(b)
    assert ca.name == cb.name
    wa, wb = load_file(str(ca / "model.safetensors")), load_file(str(cb / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    oa, ob = load_optimizer_state(ca), load_optimizer_state(cb)
    for pa, pb in zip(oa["state"].values(), ob["state"].values(), strict=True):
        for key in pa:
            assert torch.equal(pa[key], pb[key]), key
    sa, sb = read_state(ca), read_state(cb)
    assert sa["loader"] == sb["loader"] and sa["rng"] == sb["rng"]


@pytest.mark.parametrize("batch_tokens", [None, 256])  # 256 = 4 × 32 × 2: two accumulation micro-steps
def test_stop_and_resume_is_bitwise_identical(tokens, tmp_path, batch_tokens):
    torch.set_num_threads(1)
    straight = train(tiny_config(tokens, tmp_path / "straight", batch_tokens=batch_tokens))
    assert straight.grad_accum == (1 if batch_tokens is None else 2)

    paused = train(tiny_config(tokens, tmp_path / "resumed", batch_tokens=batch_tokens, stop_after=6))
    assert paused.step == 6 and latest_checkpoint(tmp_path / "resumed").name == "step_00000006"
    resumed = train(tiny_config(tokens, tmp_path / "resumed", batch_tokens=batch_tokens))
    assert resumed.resumed_from == 6 and resumed.step == 12

    expected = _losses(tmp_path / "straight")
    assert sorted(expected) == list(range(1, 13))
    assert _losses(tmp_path / "resumed") == expected  # exact float equality, every step
    assert resumed.final_val_loss == straight.final_val_loss
    _assert_same_final_state(tmp_path / "straight", tmp_path / "resumed")


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import torch
    from train_data import tiny_config
    from gptkit.reporting import Reporter, TaskHandle
    from gptkit.train.trainer import train

    class KillAt(TaskHandle):
        def update(self, completed=None, total=None, **fields):
            if completed == {kill_at}:  # step {kill_at} done, its checkpoint not written
                os.kill(os.getpid(), signal.SIGKILL)

    class Killer(Reporter):
        def task(self, description, total=None, unit=""):
            return KillAt()

    torch.set_num_threads(1)
    train(tiny_config(Path({data!r}), Path({out!r}), batch_tokens=256), Killer())
""")


def test_sigkill_then_resume_with_cli_is_bitwise_identical(tokens, tmp_path):
    torch.set_num_threads(1)
    train(tiny_config(tokens, tmp_path / "straight", batch_tokens=256))

    run = tmp_path / "killed"
    script = KILLER.format(tests=str(REPO / "tests"), kill_at=8, data=str(tokens), out=str(run))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr  # really killed
    assert latest_checkpoint(run).name == "step_00000006"  # the last one written before the kill
    assert max(_losses(run)) == 8  # steps 7 and 8 were trained and logged, then lost

    # Resume through the real CLI with the same settings (written to a recipe).
    recipe = tmp_path / "tiny.toml"
    dump_toml({"train": tiny_config(tokens, run, batch_tokens=256)}, recipe)
    proc = run_gptkit("--quiet", "train", "--recipe", recipe, "--out", run)
    assert proc.returncode == 0, proc.stderr
    assert "done: step 12/12" in proc.stdout
    assert _losses(run) == _losses(tmp_path / "straight")
    _assert_same_final_state(tmp_path / "straight", run)
    assert json.loads((run / "manifest.json").read_text())["counts"]["steps"] == 12
