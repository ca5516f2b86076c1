"""``gptkit finetune``: a tiny fine-tune per task family, resume, reuse, predict, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from gptkit.errors import InputError, UsageError
from gptkit.finetune.config import FinetuneConfig, paper_train_config
from gptkit.finetune.run import finetune
from gptkit.model.gpt import GPT, preset
from gptkit.model.store import save_model
from gptkit.model.weights import read_weights
from gptkit.tokenizer.tokenizer import Tokenizer
from tests.conftest import assert_one_line_error, run_gptkit

FIXTURES = Path(__file__).parent / "data" / "finetune-tiny"
FAST = ["--set", "finetune.train.micro_batch=4", "--set", "finetune.train.batch_size=4", "--set",
        "finetune.train.device=cpu", "--set", "finetune.train.threads=1", "--set", "finetune.train.optim.lr=1e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def nano(tmp_path_factory) -> Path:
    """A nano GPT (2 layers × 64) over a byte-level tokenizer: a fine-tuning step takes milliseconds."""
    torch.manual_seed(0)
    tok = Tokenizer({bytes([i]): i for i in range(256)}, [], {"<|endoftext|>": 256})
    return save_model(tmp_path_factory.mktemp("model") / "nano", GPT(preset("nano", vocab_size=257, block_size=128)), tok)


def config(model: Path, task: str, data: Path, out: Path, **train) -> FinetuneConfig:
    t = dataclasses.replace(paper_train_config(), micro_batch=4, batch_size=4, device="cpu", threads=1, **train)
    t.optim.lr = 1e-3
    return FinetuneConfig(model=model, task=task, data=data, out=out, epochs=2, train=t)


@pytest.mark.parametrize(("task", "splits"), [
    ("snli", {"test"}),  # entailment
    ("mrpc", {"dev"}),  # similarity, both orders
    ("storycloze", {"valid", "test"}),  # multiple choice, openai's held-out split
    ("race", {"test"}),  # multiple choice, middle/high
])  # fmt: skip
def test_each_task_family_fine_tunes_and_scores(nano, tmp_path, task, splits):
    summary = finetune(config(nano, task, FIXTURES / task, tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results == summary.results and set(results["splits"]) == splits
    for scores in results["splits"].values():
        assert 0.0 <= scores[next(iter(scores))] <= 1.0
    if task == "race":
        assert {"accuracy_middle", "accuracy_high"} <= set(results["splits"]["test"])
    if task == "mrpc":
        assert {"f1", "accuracy"} <= set(results["splits"]["dev"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    per_epoch = [r["step"] for r in records if "val_loss" in r]
    assert len(per_epoch) == 2 and all(f"{s}_accuracy" in records[-1] for s in splits)  # one evaluation per epoch
    assert any("lm_loss" in r and "task_loss" in r for r in records)


def test_stsb_regresses_and_lm_weight_zero_drops_the_lm_loss(nano, tmp_path):
    data = tmp_path / "stsb"
    data.mkdir()
    rows = [{"sentence1": f"a {i}", "sentence2": f"b {i % 3}", "label": float(i % 6)} for i in range(12)]
    for split in ("train", "dev"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = dataclasses.replace(config(nano, "stsb", data, tmp_path / "run"), lm_weight=0.0)
    scores = finetune(cfg).results["splits"]["dev"]
    assert set(scores) == {"pearson", "spearman", "n"}
    records = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "task_loss" in records and "lm_loss" not in records


def test_interrupted_fine_tune_resumes_bitwise_identically(nano, tmp_path):
    whole = finetune(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "whole"))
    paused = finetune(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "paused", stop_after=1))
    assert paused.results is None and paused.step == 1
    resumed = finetune(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "paused"))
    assert resumed.step == whole.step == 4 and resumed.results == whole.results
    for name in ("model.safetensors", "heads.safetensors"):
        a, b = (run / "checkpoints" / "step_00000004" / name for run in (tmp_path / "whole", tmp_path / "paused"))
        assert a.read_bytes() == b.read_bytes(), name


def test_a_subset_of_the_training_split_from_a_fresh_model_of_the_same_shape(nano, tmp_path):
    def init(run: Path) -> dict[str, torch.Tensor]:
        finetune(dataclasses.replace(config(nano, "sst2", FIXTURES / "sst2", run, stop_after=1),
                                     train_examples=4, from_scratch=True))  # fmt: skip
        return read_weights(run / "init" / "model.safetensors")

    fresh, again = init(tmp_path / "a"), init(tmp_path / "b")
    pretrained = read_weights(nano / "model.safetensors")
    assert fresh.keys() == again.keys() and all(torch.equal(fresh[k], again[k]) for k in fresh)
    for name, weight in pretrained.items():
        assert fresh[name].shape[1:] == weight.shape[1:]
        assert name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight", "bias")) or not torch.equal(
            fresh[name][: len(weight)], weight), name
    whole = finetune(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "whole", stop_after=1))
    subset = finetune(dataclasses.replace(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "c"), train_examples=4))
    assert whole.counts["train"] == 8 and whole.steps == 4
    assert subset.counts["train"] == 4 and subset.steps == 2  # 2 epochs of 4 examples in batches of 4


def test_a_run_directory_refuses_other_settings(nano, tmp_path):
    finetune(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "run", stop_after=1))
    changed = dataclasses.replace(config(nano, "sst2", FIXTURES / "sst2", tmp_path / "run"), lm_weight=0.0)
    with pytest.raises(UsageError, match="other settings \\(finetune.lm_weight differs\\)"):
        finetune(changed)


@pytest.mark.slow
def test_cli_fine_tunes_reuses_and_predicts(nano, tmp_path):
    run = tmp_path / "run"
    args = ["finetune", nano, "--task", "sst2", "--data", FIXTURES / "sst2", "--out", run, *FAST,
            "--set", "finetune.epochs=1"]  # fmt: skip
    proc = run_gptkit(*args)
    assert proc.returncode == 0, proc.stderr
    assert "sst2 dev (n=4): accuracy" in proc.stdout and "results:" in proc.stdout
    tokenizer = json.loads((run / "checkpoints" / "step_00000002" / "tokenizer" / "tokenizer.json").read_text())
    assert {t["content"] for t in tokenizer["added_tokens"]} >= {"<|ft_start|>", "<|ft_delim|>", "<|ft_extract|>"}
    again = run_gptkit(*args)
    assert again.returncode == 0 and "results:" in again.stdout and "already complete" in again.stderr
    pred = run_gptkit("finetune", "predict", run, FIXTURES / "sst2" / "dev.tsv", "--out", tmp_path / "p.jsonl")
    assert pred.returncode == 0, pred.stderr
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and {r["prediction"] for r in lines} <= {"0", "1"} and lines[0]["label"] == "1"
    assert lines[0]["source"].endswith("dev.tsv:2")


def test_bad_input_is_one_line_naming_file_and_line(nano, tmp_path):
    data = tmp_path / "bad"
    data.mkdir()
    (data / "train.tsv").write_text("sentence\tlabel\ngood .\t1\nbad .\tpositive\n")
    proc = run_gptkit("finetune", nano, "--task", "sst2", "--data", data, "--out", tmp_path / "run", *FAST)
    assert_one_line_error(proc, "train.tsv:3", "unknown label 'positive'")


@pytest.mark.parametrize(("task", "files", "error", "message"), [
    ("glue", {}, UsageError, "unknown task 'glue'"),
    ("rte", {}, InputError, "no examples in the rte split 'train'"),
    ("sst2", {"train.tsv": "sentence\tlabel\nok\t1\n"}, InputError, "none of the eval splits dev is here"),
    ("sst2", {"train.tsv": "sentence\tlabel\nok\t1\n", "dev.tsv": "sentence\tlabel\n"}, InputError,
     "dev.tsv: the eval split 'dev' holds no examples"),
])  # fmt: skip
def test_missing_or_empty_splits_are_refused(nano, tmp_path, task, files, error, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(error, match=message):
        finetune(config(nano, task, tmp_path, tmp_path / "run"))


def test_fine_tunes_a_transformers_gpt2_directory(nano, tmp_path):
    from gptkit.model.hf import export_hf
    from gptkit.model.store import load_model

    gpt, tok = load_model(nano)
    hf_dir = export_hf(gpt, tok, tmp_path / "hf")
    summary = finetune(config(hf_dir, "sst2", FIXTURES / "sst2", tmp_path / "run"))
    assert summary.results["splits"]["dev"]["n"] == 4
    init, _ = load_model(tmp_path / "run" / "init")
    assert init.config.vocab_size == 260
    assert torch.equal(init.transformer.wte.weight[:257], gpt.transformer.wte.weight[:257])
