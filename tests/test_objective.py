"""The trainer's objective interface, through an objective with a head (as GPT-1 fine-tuning has):
its metrics, validation metrics and evaluation hook are logged, its head is optimised, saved and
restored bit for bit, epochs and examples per step set the run's length."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from train_data import make_token_dir, tiny_config

from gptkit.errors import UsageError
from gptkit.pack.loader import TokenLoader
from gptkit.train import checkpoint as ckpt
from gptkit.train.metrics import read_jsonl
from gptkit.train.objective import LMObjective, TrainModule
from gptkit.train.trainer import train


class FirstTokenParity(LMObjective):
    """Classify a window by the parity of its first token (a linear head on the last hidden state),
    with the LM loss as an auxiliary objective, GPT-1 style."""

    name = "test-parity"

    def __init__(self, data_dir, lm_weight=0.5):
        super().__init__(data_dir)
        self.lm_weight = lm_weight
        self.evaluated_at: list[int] = []

    def heads(self):
        return {"cls": torch.nn.Linear(self.setup.model_config.n_embd, 2)}

    def loss(self, model: TrainModule, batch):
        x, y = batch
        hidden = model.gpt.hidden(x)
        logits = model.heads["cls"](hidden[:, -1]).float()
        labels = x[:, 0] % 2
        cls_loss = F.cross_entropy(logits, labels)
        lm_loss = F.cross_entropy(model.gpt.logits(hidden).flatten(0, 1).float(), y.flatten())
        accuracy = (logits.argmax(-1) == labels).float().mean()
        return cls_loss + self.lm_weight * lm_loss, {"lm_loss": lm_loss.detach(), "accuracy": accuracy}

    def evaluate(self, model: TrainModule, step: int) -> dict[str, float]:
        assert not model.training and not torch.is_grad_enabled()
        self.evaluated_at.append(step)
        return {"dev_score": float(step)}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return make_token_dir(tmp_path_factory.mktemp("data") / "tokens")


def test_objective_metrics_head_and_eval_hook_are_logged_and_saved(tokens, tmp_path):
    torch.set_num_threads(1)
    objective = FirstTokenParity(tokens)
    summary = train(tiny_config(tokens, tmp_path / "run"), objective=objective)
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "val_loss" in r]
    assert len(steps) == 12 and all(0 <= r["accuracy"] <= 1 and r["lm_loss"] > 0 for r in steps)
    assert all(r["loss"] > r["lm_loss"] * 0.5 for r in steps)  # the classification loss is added
    assert [r["step"] for r in evals] == objective.evaluated_at == [4, 8, 12]
    assert all(r["dev_score"] == r["step"] and 0 <= r["val_accuracy"] <= 1 and "val_lm_loss" in r for r in evals)
    assert summary.final_val_loss == evals[-1]["val_loss"]

    latest = ckpt.latest_checkpoint(tmp_path / "run")
    head = load_file(str(latest / ckpt.HEADS))
    assert set(head) == {"cls.weight", "cls.bias"} and head["cls.weight"].shape == (2, 32)
    assert ckpt.read_state(latest)["objective"] == "test-parity"


def test_objective_with_head_resumes_bitwise(tokens, tmp_path):
    torch.set_num_threads(1)
    cfg = tiny_config(tokens, tmp_path / "straight")
    train(cfg, objective=FirstTokenParity(tokens))
    paused = dataclasses.replace(cfg, out=tmp_path / "resumed", stop_after=5)
    train(paused, objective=FirstTokenParity(tokens))
    resumed = train(dataclasses.replace(paused, stop_after=None), objective=FirstTokenParity(tokens))
    assert resumed.resumed_from == 5

    def logged(run):  # everything but the timings
        return [{k: v for k, v in r.items() if k not in ("tokens_per_s", "mfu")} for r in read_jsonl(run / "metrics.jsonl")]

    assert logged(tmp_path / "resumed") == logged(tmp_path / "straight")  # losses, metrics, val metrics, hook
    a, b = (load_file(str(ckpt.latest_checkpoint(tmp_path / n) / ckpt.HEADS)) for n in ("straight", "resumed"))
    assert all(torch.equal(a[k], b[k]) for k in a)

    # an LM run does not resume this checkpoint
    with pytest.raises(UsageError, match="objective 'test-parity'"):
        train(dataclasses.replace(cfg, steps=14))


def test_epochs_and_batch_size_set_the_number_of_steps(tokens, tmp_path):
    torch.set_num_threads(1)
    windows = TokenLoader(tokens, "train", 32, 1).windows_per_epoch
    cfg = tiny_config(tokens, tmp_path / "run", epochs=0.25, batch_size=8, eval_interval=0)
    summary = train(cfg)
    assert summary.grad_accum == 2 and summary.steps == summary.step == math.ceil(0.25 * windows / 8)
    assert summary.tokens == summary.steps * 8 * 32
