"""GPT-1's zero-shot heuristics as eval tasks: lm-eval's numbers equal the heuristic computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from sklearn.metrics import matthews_corrcoef

from gptkit.errors import UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.runner import evaluate
from gptkit.finetune.tasks import TASKS, load_split
from gptkit.model.gpt import GPT, preset
from gptkit.model.store import save_model
from gptkit.tokenizer.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "finetune-tiny"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = Tokenizer({bytes([i]): i for i in range(256)}, [], {"<|endoftext|>": 256})
    model = GPT(preset("nano", vocab_size=257, block_size=512))
    return save_model(tmp_path_factory.mktemp("zs") / "nano", model, tok), model.eval(), tok


@pytest.fixture(scope="module")
def results(model_dir, tmp_path_factory):
    path, _, _ = model_dir
    cfg = EvalConfig(model=path, tasks=["sst2", "cola", "race", "storycloze"], shots="0", data_dir=FIXTURES,
                     out=tmp_path_factory.mktemp("out"), bootstrap_iters=0, cache=False)  # fmt: skip
    evaluate(cfg)
    return json.loads((cfg.out / "results.json").read_text())["results"]


@torch.no_grad()
def logprob(model: GPT, context: list[int], continuation: list[int]) -> float:
    ids = torch.tensor([context + continuation])
    logp = torch.log_softmax(model(ids)[0, :-1].float(), dim=-1)
    return float(sum(logp[len(context) - 1 + i, t] for i, t in enumerate(continuation)))


def test_sst2_compares_positive_and_negative_after_very(model_dir, results):
    _, model, tok = model_dir
    dev = load_split(TASKS["sst2"], FIXTURES / "sst2", "dev").examples
    right = 0
    for e in dev:
        ctx = tok.encode(e.texts[0] + " very")
        scores = [logprob(model, ctx, tok.encode(" " + word)) for word in ("negative", "positive")]
        right += int(scores.index(max(scores)) == e.label)
    assert results["sst2"]["acc,none"] == pytest.approx(right / len(dev))


def test_multiple_choice_takes_the_best_average_log_probability(model_dir, results):
    _, model, tok = model_dir
    for task, split in (("storycloze", "test"), ("race", "test")):
        examples = load_split(TASKS[task], FIXTURES / task, split).examples
        right = []
        for e in examples:
            ctx = tok.encode(e.texts[0])
            avg = [logprob(model, ctx, tok.encode(" " + o)) / len(tok.encode(" " + o)) for o in e.texts[1:]]
            right.append(avg.index(max(avg)) == e.label)
        assert results[task]["acc,none"] == pytest.approx(sum(right) / len(right)), task
    high = [r for r, e in zip(right, examples, strict=True) if e.group == "high"]
    assert results["race"]["acc_high,none"] == pytest.approx(sum(high) / len(high))


def test_cola_thresholds_the_average_token_log_probability(model_dir, results):
    _, model, tok = model_dir
    dev = load_split(TASKS["cola"], FIXTURES / "cola", "dev").examples
    avg = [logprob(model, [tok.eot_id], tok.encode(e.texts[0])) / len(tok.encode(e.texts[0])) for e in dev]
    labels = [e.label for e in dev]
    best = max(matthews_corrcoef(labels, [int(a >= t) for a in avg]) for t in avg)
    assert results["cola"]["mcc_best_threshold,none"] == pytest.approx(best, abs=1e-6)


def test_heuristics_are_zero_shot_only(model_dir, tmp_path):
    cfg = EvalConfig(model=model_dir[0], tasks=["sst2"], shots="1", data_dir=FIXTURES, out=tmp_path)
    with pytest.raises(UsageError, match="zero-shot heuristic: use --shots 0"):
        evaluate(cfg)
