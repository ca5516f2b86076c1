"""Parity: on the same weights, gptkit eval gives lm-eval's own ``hf`` backend's numbers.

A tiny random GPT-2 (2 layers x 64, the real GPT-2 tokenizer) is saved as a gptkit model and
exported with ``gptkit.model.hf.export_hf``; lm-eval's ``HFLM`` runs lm-eval's own
``lambada_openai`` YAML on it (data from the local file), gptkit runs its ``lambada`` task on
the gptkit directory and on the HF directory (``load_model``'s import). Half of the passages
get the model's own greedy next word as their last word, so ``acc`` is not trivially zero.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from conftest import shared_path

from gptkit.config import build
from gptkit.eval.config import EvalConfig

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

N_PASSAGES = 60


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.hf import export_hf
    from gptkit.model.store import save_model
    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(shared_path("tokenizers/gpt2"))
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=128, vocab_size=tok.vocab_size)).eval()
    root = tmp_path_factory.mktemp("parity")
    save_model(root / "gptkit", model, tok)
    export_hf(model, tok, root / "hf")
    return root / "gptkit", root / "hf", greedy_lambada(model, tok, root / "lambada_test.jsonl")


def greedy_lambada(model, tok, path: Path) -> Path:
    """The first passages of LAMBADA; every other one ends with the model's greedy next word."""
    from gptkit.eval.tasks.lambada import context, load_passages

    docs = load_passages(shared_path("lambada/lambada_test.jsonl"))[:N_PASSAGES]
    lines = []
    for i, doc in enumerate(docs):
        text = doc["text"]
        if i % 2 == 0:
            ctx = context(doc)
            with torch.inference_mode():
                token = int(model(torch.tensor([tok.encode(ctx)[-128:]]))[0, -1].argmax())
            word = tok.decode([token])
            if word.startswith(" ") and word[1:].isalpha():
                text = ctx + word
        lines.append(json.dumps({"text": text}) + "\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module")
def chat_dirs(tmp_path_factory):
    """The same kind of model with the chatml tokens and template (as ``gptkit sft`` leaves it)."""
    from gptkit.chat.template import attach_template, get_template
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.hf import export_hf
    from gptkit.model.store import save_model
    from gptkit.model.vocab import add_special_tokens
    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(shared_path("tokenizers/gpt2"))
    torch.manual_seed(1)
    base = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=192, vocab_size=tok.vocab_size)).eval()
    model, tok = add_special_tokens(base, tok, get_template("chatml").specials)
    attach_template(tok, get_template("chatml"))
    root = tmp_path_factory.mktemp("chat-parity")
    save_model(root / "gptkit", model, tok)
    export_hf(model, tok, root / "hf")
    return root / "gptkit", root / "hf"


def lm_eval_hf(hf_dir: Path, data_file: Path, batch_size: int = 8, **chat: object) -> dict:
    """lm-eval's ``lambada_openai`` (its own YAML) on ``HFLM``, data from ``data_file``."""
    import lm_eval
    import yaml
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    task = yaml.safe_load(
        (Path(lm_eval.__file__).parent / "tasks" / "lambada" / "lambada_openai.yaml").read_text()
    )
    task.pop("tag")
    task.update(
        dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": {"test": str(data_file)}}
    )
    model = HFLM(pretrained=str(hf_dir), batch_size=batch_size, device="cpu")
    return lm_eval.simple_evaluate(
        model=model, tasks=[task], bootstrap_iters=0, task_manager=TaskManager(include_defaults=False), **chat
    )


def gptkit_eval(model_dir: Path, data_file: Path, out: Path, **chat: object) -> tuple[dict, list[dict]]:
    from gptkit.eval.runner import evaluate

    config = build(
        EvalConfig,
        {"model": str(model_dir), "out": str(out), "tasks": ["lambada"], "bootstrap_iters": 0, "cache": False,
         "batch_size": 8, "lambada": {"file": str(data_file)}, **chat},
        "eval",
    )  # fmt: skip
    results = evaluate(config).results
    samples = [json.loads(line) for line in (out / "samples_lambada.jsonl").read_text().splitlines()]
    return results, samples


def test_lambada_acc_and_perplexity_equal_lm_eval_hf_backend(dirs, tmp_path):
    gptkit_dir, hf_dir, data_file = dirs
    ours, our_samples = gptkit_eval(gptkit_dir, data_file, tmp_path / "ours")
    theirs = lm_eval_hf(hf_dir, data_file)
    a, b = ours["results"]["lambada"], theirs["results"]["lambada_openai"]
    assert ours["n-samples"]["lambada"]["effective"] == N_PASSAGES
    assert 0.2 < b["acc,none"] < 0.8  # the greedy-word passages are hits, the others are not
    assert abs(a["acc,none"] - b["acc,none"]) <= 1e-4
    assert abs(a["perplexity,none"] - b["perplexity,none"]) <= 1e-4 * b["perplexity,none"]
    # per passage: same log-likelihood (to 1e-4) and the same greedy verdict
    for mine, hf in zip(our_samples, theirs["samples"]["lambada_openai"], strict=True):
        assert mine["arguments"]["gen_args_0"]["arg_0"] == hf["arguments"][0][0]
        (ll, greedy), (hf_ll, hf_greedy) = mine["resps"][0][0], hf["resps"][0][0]
        assert abs(float(ll) - hf_ll) <= 1e-4 and (greedy == "True") == hf_greedy

    # the HF directory itself, imported by load_model, gives the same numbers
    via_hf, _ = gptkit_eval(hf_dir, data_file, tmp_path / "via_hf")
    assert via_hf["results"]["lambada"]["acc,none"] == a["acc,none"]
    assert via_hf["results"]["lambada"]["perplexity,none"] == pytest.approx(a["perplexity,none"], rel=1e-6)


def test_greedy_generation_equals_lm_eval_hf_backend(dirs):
    """CoQA-style generation: gptkit's batched KV-cache decoding = HFLM's greedy generate."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from gptkit.eval.adapter import GptkitLM
    from gptkit.eval.tasks.coqa import doc_to_text, load_stories, turn_docs
    from gptkit.model.store import load_model

    gptkit_dir, hf_dir, _ = dirs
    story = load_stories(shared_path("coqa/coqa-dev-v1.0.first-story.hf-dummy.json"))[0]
    prompts = [doc_to_text(d)[-300:] for d in turn_docs(story, 0)]  # short enough for 128 tokens
    gen = {"until": ["\nQ:"], "max_gen_toks": 16, "do_sample": False}
    requests = [Instance("generate_until", {}, (p, dict(gen)), i) for i, p in enumerate(prompts)]
    model, tok = load_model(gptkit_dir)
    ours = GptkitLM(model, tok, batch_size=4).generate_until(requests)
    theirs = HFLM(pretrained=str(hf_dir), batch_size=1, device="cpu").generate_until(requests)
    assert ours == theirs
    assert any(text.strip() for text in ours)


def test_chat_template_prompts_and_scores_equal_lm_eval_apply_chat_template(chat_dirs, dirs, tmp_path):
    """--chat-template --system-instruction: the model sees the template's rendering of the system
    message and the passage, the same prompts and log-likelihoods as HFLM with apply_chat_template."""
    from gptkit.chat.template import get_template, render_text
    from gptkit.eval.tasks.lambada import context, load_passages

    gptkit_dir, hf_dir = chat_dirs
    data_file = dirs[2]
    system = "Complete the passage with one word."
    ours, samples = gptkit_eval(gptkit_dir, data_file, tmp_path / "ours", chat_template=True,
                                system_instruction=system, limit=20)  # fmt: skip
    theirs = lm_eval_hf(hf_dir, data_file, apply_chat_template=True, system_instruction=system, limit=20)
    passages = load_passages(data_file)[:20]
    for doc, mine, hf in zip(passages, samples, theirs["samples"]["lambada_openai"], strict=True):
        prompt = mine["arguments"]["gen_args_0"]["arg_0"]
        messages = [{"role": "system", "content": system}, {"role": "user", "content": context(doc)}]
        assert prompt == render_text(get_template("chatml"), messages, add_generation_prompt=True)
        assert prompt == hf["arguments"][0][0]
        (ll, greedy), (hf_ll, hf_greedy) = mine["resps"][0][0], hf["resps"][0][0]
        assert abs(float(ll) - hf_ll) <= 1e-4 and (greedy == "True") == hf_greedy
    a, b = ours["results"]["lambada"], theirs["results"]["lambada_openai"]
    assert abs(a["perplexity,none"] - b["perplexity,none"]) <= 1e-4 * b["perplexity,none"]
    exported = json.loads((hf_dir / "tokenizer_config.json").read_text())["chat_template"]
    assert ours["chat_template"] == exported and ours["system_instruction"] == system


@pytest.mark.parametrize("name", ["chatml", "hh"])
def test_adapter_apply_chat_template_equals_hflm(tmp_path, name):
    """Multi-turn histories, with a generation prompt and with a prefilled answer to continue: the
    adapter's rendering is HFLM's (transformers' apply_chat_template on the exported tokenizer)."""
    from lm_eval.models.huggingface import HFLM

    from gptkit.chat.template import attach_template, get_template
    from gptkit.eval.adapter import GptkitLM
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.hf import export_hf
    from gptkit.model.vocab import add_special_tokens
    from gptkit.tokenizer import load_tokenizer

    template = get_template(name)
    base = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=16, block_size=64, vocab_size=50257))
    model, tok = add_special_tokens(base, load_tokenizer(shared_path("tokenizers/gpt2")), template.specials)
    attach_template(tok, template)
    export_hf(model, tok, tmp_path / "hf")
    ours, theirs = GptkitLM(model, tok, template=template), HFLM(pretrained=str(tmp_path / "hf"), device="cpu")
    demo = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    for history in (
        [{"role": "system", "content": "Be brief."}, *demo, {"role": "user", "content": "3+3?"}],
        [*demo, {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "Answer:"}],
    ):
        for add_generation_prompt in (True, False):
            assert ours.apply_chat_template(history, add_generation_prompt) == \
                theirs.apply_chat_template(history, add_generation_prompt)  # fmt: skip
    assert ours.chat_template(True) == theirs.chat_template(True)
