"""gptkit eval: SQuAD scoring, the LAMBADA/CoQA task formats, the lm-eval adapter, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, assert_one_line_error, run_gptkit, shared_path

from gptkit.config import build
from gptkit.errors import UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.squad import exact_match, normalize_answer, score_answer, token_f1

os.environ.setdefault("TQDM_DISABLE", "1")
torch.set_num_threads(1)

LAMBADA = "lambada/lambada_test.jsonl"
COQA = "coqa/coqa-dev-v1.0.first-story.hf-dummy.json"
#: The first 8 passages of the original LAMBADA release's plain-text test set (tests/data/SOURCES.md).
PLAIN_TEXT_HEAD = REPO / "tests" / "data" / "lambada" / "lambada_test_plain_text.head8.txt"


def eval_config(**values) -> EvalConfig:
    return build(EvalConfig, values, "eval")


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2_tok():
    from gptkit.tokenizer import load_tokenizer

    return load_tokenizer(shared_path("tokenizers/gpt2"))


@pytest.fixture(scope="module")
def tiny_model(gpt2_tok):
    from gptkit.model.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=128, vocab_size=gpt2_tok.vocab_size))
    return model.eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_model, gpt2_tok):
    from gptkit.model.store import save_model

    return save_model(tmp_path_factory.mktemp("model") / "tiny", tiny_model, gpt2_tok)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """DATA_DIR with the real LAMBADA file and the real one-story CoQA dev file."""
    root = tmp_path_factory.mktemp("data")
    (root / "lambada").mkdir()
    (root / "lambada" / "lambada_test.jsonl").symlink_to(shared_path(LAMBADA))
    (root / "coqa").mkdir()
    (root / "coqa" / "coqa-dev-v1.0.json").symlink_to(shared_path(COQA))
    return root


def coqa_train_file(path: Path) -> Path:
    """A train file of six stories made from the real dev story (other ids, other text)."""
    story = json.loads(shared_path(COQA).read_text())["data"][0]
    stories = []
    for i in range(6):
        s = json.loads(json.dumps(story))
        s["id"] = f"train-{i}"
        s["story"] = f"Train story {i}. " + s["story"]
        stories.append(s)
    path.write_text(json.dumps({"version": "1.0", "data": stories}))
    return path


def load_task(spec, seed: int = 1234):
    from lm_eval.tasks import TaskManager

    task = TaskManager(include_defaults=False).load([spec.config])["tasks"][spec.name]
    task.set_config(key="num_fewshot", value=spec.num_fewshot)
    task.set_fewshot_seed(seed=seed)
    return task


# --- SQuAD metrics ----------------------------------------------------------------------------
def test_squad_normalisation_and_scores():
    assert normalize_answer("The  Barn, near a farm-house!") == "barn near farmhouse"
    assert exact_match("the farmer's", "Farmers") == 1
    assert token_f1("in a barn", "a barn") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("barn", "") == 0.0 and token_f1("barn", "cow") == 0.0


def test_squad_leave_one_out_over_additional_answers():
    # leave out "in a barn": best of ["in a barn near"] → f1 0.5; leave out the other → f1 2/3
    scores = score_answer(["in a barn", "in a barn near"], "a barn")
    assert scores["f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert scores["em"] == 0.0
    assert score_answer(["white", "White"], "white") == {"em": 1.0, "f1": 1.0}
    assert score_answer(["no"], "No.") == {"em": 1.0, "f1": 1.0}


# --- LAMBADA ----------------------------------------------------------------------------------
def test_lambada_zero_shot_is_lm_eval_lambada_openai_format():
    """gptkit's split of every passage equals lm-eval's YAML templates (incl. quotes, newlines)."""
    import lm_eval
    import yaml
    from lm_eval import utils as lm_utils

    from gptkit.eval.tasks import lambada

    spec_yaml = Path(lm_eval.__file__).parent / "tasks" / "lambada" / "lambada_openai.yaml"
    upstream = yaml.safe_load(spec_yaml.read_text())
    to_text, to_target = (lm_utils.env.from_string(upstream[k]) for k in ("doc_to_text", "doc_to_target"))
    docs = lambada.load_passages(shared_path(LAMBADA))
    assert len(docs) == 5153
    for doc in docs:
        assert lambada.context(doc) == to_text.render(**doc)
        assert lambada.target(doc) == to_target.render(**doc)


def test_lambada_default_file_is_the_bundled_copy_of_the_shared_file():
    from gptkit.eval.tasks import lambada

    bundled = lambada.data_file(eval_config())
    assert bundled.name == "lambada_test.jsonl.gz"
    assert lambada.load_passages(bundled) == lambada.load_passages(shared_path(LAMBADA))


def test_lambada_few_shot_cloze_prompt_never_uses_the_evaluated_passage(tmp_path):
    from gptkit.eval.tasks import lambada

    texts = [f"Passage number {i} ends with word{i}" for i in range(6)]
    texts.append(texts[0])  # a duplicate passage must not serve as its own demo either
    path = tmp_path / "lambada_test.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    spec = lambada.task(eval_config(shots="few", fewshot_k=4, lambada={"file": str(path)}))
    assert spec.config["description"] == "Fill in blank:\n\n"
    task = load_task(spec)
    for doc in task.eval_docs:
        prompt = task.fewshot_context(doc, spec.num_fewshot)
        assert prompt.startswith("Fill in blank:\n\nPassage number ")
        assert prompt.endswith(lambada.context(doc) + " ____. ->")
        assert prompt.count(" ____. ->") == 5 and "  " not in prompt  # 4 demos + the question
        assert prompt.count(lambada.context(doc)) == 1
        demos = task.sampler.drawn[doc["key"]]
        assert len(demos) == 4 and all(d["text"] != doc["text"] for d in demos)
        assert prompt[len(spec.description) :].startswith(spec.render_demo(demos[0]))
    one = lambada.task(eval_config(shots=1, lambada={"file": str(path)}))
    assert one.num_fewshot == 1 and one.settings["format"] == "cloze"
    assert lambada.task(eval_config(shots=0)).settings["format"] == "plain"


def test_lambada_malformed_line_is_named(tmp_path):
    from gptkit.errors import InputError
    from gptkit.eval.tasks import lambada

    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "a b c"}\n{"txt": "d e f"}\n')
    with pytest.raises(InputError, match=r"l.jsonl:2: expected"):
        lambada.load_passages(path)


def test_lambada_too_few_passages_for_the_demos(tmp_path):
    from gptkit.eval.tasks import lambada

    path = tmp_path / "l.jsonl"
    path.write_text('{"text": "a b c"}\n{"text": "d e f"}\n{"text": "d e f"}\n')
    with pytest.raises(UsageError, match="needs more than 3 passages"):
        lambada.task(eval_config(shots="few", fewshot_k=3, lambada={"file": str(path)}))
    # the duplicate of "d e f" cannot be its demo: only one passage is left
    task = load_task(lambada.task(eval_config(shots="few", fewshot_k=2, lambada={"file": str(path)})))
    with pytest.raises(UsageError, match="2 demos requested but only 1"):
        task.fewshot_context(task.eval_docs[1], 2)


# --- CoQA -------------------------------------------------------------------------------------
def test_coqa_every_turn_is_a_question_with_gpt2_prompt():
    from gptkit.eval.tasks import coqa

    spec = coqa.task(eval_config(coqa={"dev_file": str(shared_path(COQA))}))
    task = load_task(spec)
    docs = list(task.eval_docs)
    assert len(docs) == 12 and spec.num_fewshot == 0
    prompt = task.fewshot_context(docs[2], 0)
    assert prompt.startswith("Once upon a time, in a barn")
    assert prompt.endswith(
        "\n\nQ: What color was Cotton?\n\nA: white\n\nQ: Where did she live?\n\nA: in a barn\n\n"
        "Q: Did she live alone?\n\nA:"
    )
    assert docs[2]["golds"] == ["no"]  # "no", "No", "no": deduplicated ignoring case
    assert docs[1]["golds"] == ["in a barn", "in a barn near"]
    assert spec.config["generation_kwargs"]["until"] == ["\nQ:"]
    # lm-eval's setting: only the last turn of each story
    last = load_task(coqa.task(eval_config(coqa={"dev_file": str(shared_path(COQA)), "turns": "last"})))
    assert [d["turn"] for d in last.eval_docs] == [12]
    # the first line of the stripped answer is scored
    assert coqa.process_results(docs[1], [" in a barn near\nQ: more"]) == {
        "em": 0.5,
        "f1": pytest.approx(0.9),
    }


def test_coqa_demos_come_from_other_stories(tmp_path):
    from gptkit.eval.tasks import coqa

    dev = {"dev_file": str(shared_path(COQA))}
    with pytest.raises(UsageError, match="needs demos from other stories"):
        coqa.task(eval_config(shots=1, coqa=dev))
    train = coqa_train_file(tmp_path / "coqa-train-v1.0.json")
    spec = coqa.task(eval_config(shots="few", fewshot_k=2, coqa={**dev, "train_file": str(train)}))
    assert spec.num_fewshot == 2 and spec.inputs[-1] == train
    task = load_task(spec)
    doc = task.eval_docs[4]
    prompt = task.fewshot_context(doc, 2)
    assert prompt.startswith("Train story ") and prompt.count("Train story ") == 2
    assert prompt.count("\n\nA: they started laughing\n\nQ:") == 2  # whole demo conversations…
    assert prompt.endswith(coqa.doc_to_text(doc))  # …then the evaluated turn
    demos = prompt[: -len(coqa.doc_to_text(doc))]  # each demo ends with its last answer
    assert demos.endswith("Did they want Cotton to change the color of her fur?\n\nA: no\n\n")


# --- the adapter ------------------------------------------------------------------------------
class _Req:
    def __init__(self, *args):
        self.args = args


def test_adapter_holds_no_model_internals():
    """The adapter scores through GPT.hidden/GPT.logits and decodes through the shared decoder."""
    from pathlib import Path

    import gptkit.eval.adapter

    source = Path(gptkit.eval.adapter.__file__).read_text()
    assert "model.hidden(" in source and "model.logits(" in source and "decoder.generate(" in source
    for internal in ("transformer.", "lm_head", "for block in", "new_cache"):
        assert internal not in source, internal


def _greedy_tokens(model, ids: list[int], n: int) -> list[int]:
    out = list(ids)
    with torch.inference_mode():
        for _ in range(n):
            out.append(int(model(torch.tensor([out[-model.config.block_size :]]))[0, -1].argmax()))
    return out[len(ids) :]


def test_loglikelihood_matches_direct_computation_and_flags_greedy(tiny_model, gpt2_tok):
    from gptkit.eval.adapter import GptkitLM

    lm = GptkitLM(tiny_model, gpt2_tok, batch_size=3)
    contexts = ["The cat sat on the", "Once upon a time", "A", "x " * 200]  # the last one overflows 128
    requests = []
    for ctx in contexts:
        ids = gpt2_tok.encode(ctx)
        requests.append(((ctx, "greedy"), ids, _greedy_tokens(tiny_model, ids[-125:], 3)))
        requests.append(((ctx, " mat"), ids, gpt2_tok.encode(" mat on the")))
    scores = lm._loglikelihood_tokens(requests)
    for (_, ctx_ids, cont_ids), (logprob, is_greedy) in zip(requests, scores, strict=True):
        window = (ctx_ids + cont_ids)[-129:]
        with torch.inference_mode():
            lp = torch.log_softmax(tiny_model(torch.tensor([window[:-1]]))[0].float(), -1)[-len(cont_ids) :]
        picked = lp.gather(1, torch.tensor(cont_ids)[:, None]).squeeze(1)
        assert logprob == pytest.approx(float(picked.sum()), abs=1e-4)
        assert is_greedy == bool((lp.argmax(-1) == torch.tensor(cont_ids)).all())
    assert [g for _, g in scores[0::2]] == [True] * 4 and not any(g for _, g in scores[1::2])
    # through lm-eval's string interface: the same numbers
    via_strings = lm.loglikelihood([_Req("The cat sat on the", " mat on the")])
    assert via_strings[0][0] == pytest.approx(scores[1][0], abs=1e-5)


def test_loglikelihood_rolling_covers_every_token_once(tiny_model, gpt2_tok):
    from gptkit.eval.adapter import GptkitLM

    text = " ".join(f"word{i}" for i in range(70))  # > 128 tokens: two windows
    ids = gpt2_tok.encode(text)
    (total,) = GptkitLM(tiny_model, gpt2_tok, batch_size=2).loglikelihood_rolling([_Req(text)])
    expected = 0.0
    with torch.inference_mode():
        for i, token in enumerate(ids):  # each token with the longest context the window allows
            ctx = ([gpt2_tok.eot_id] + ids)[max(0, i + 1 - 128) : i + 1]
            expected += float(torch.log_softmax(tiny_model(torch.tensor([ctx]))[0, -1], -1)[token])
    # lm-eval's windows are disjoint: later tokens get less than the full context
    assert len(ids) > 128 and total < 0 and abs(total - expected) / abs(expected) < 0.05


def test_generate_until_is_batched_greedy_on_the_kv_cache(tiny_model, gpt2_tok):
    from gptkit.eval.adapter import GptkitLM

    contexts = ["Q: What color was Cotton?\n\nA:", "Hello", "word " * 300, "The farmer said"]
    reqs = [_Req(c, {"until": ["\nQ:"], "max_gen_toks": 12, "do_sample": False}) for c in contexts]
    batched = GptkitLM(tiny_model, gpt2_tok, batch_size=4).generate_until(reqs)
    single = GptkitLM(tiny_model, gpt2_tok, batch_size=1).generate_until(reqs)
    assert batched == single
    for ctx, text in zip(contexts, batched, strict=True):
        ids = gpt2_tok.encode(ctx)[-(128 - 12) :]  # left-truncated to leave room for the answer
        expected = gpt2_tok.decode([t for t in _greedy_tokens(tiny_model, ids, 12)]).split("\nQ:")[0]
        assert text == expected.split("<|endoftext|>")[0]
    # "until" cuts the text: stop at the first generated character
    first = batched[1][:1]
    if first:
        cut = GptkitLM(tiny_model, gpt2_tok).generate_until(
            [_Req("Hello", {"until": [first], "max_gen_toks": 12})]
        )
        assert cut == [""]


# --- the CLI ----------------------------------------------------------------------------------
def test_cli_zero_shot_lambada_and_coqa(model_dir, data_dir, tmp_path):
    out = tmp_path / "eval"
    proc = run_gptkit(
        "eval", model_dir, "--tasks", "lambada,coqa", "--limit", "8", "--data-dir", data_dir, "--out", out
    )
    assert proc.returncode == 0, proc.stderr
    assert "lambada" in proc.stdout and "perplexity" in proc.stdout and "GPT-2 117M" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["n-shot"] == {"lambada": 0, "coqa": 0}
    assert results["n-samples"]["lambada"]["effective"] == 8
    assert set(results["results"]["coqa"]) >= {"em,none", "f1,none"}
    assert results["gptkit"]["tasks"]["coqa"]["turns"] == "all"
    from lm_eval.utils import make_table

    assert "lambada" in make_table(results)  # loads in lm-eval's tooling
    samples = [json.loads(line) for line in (out / "samples_coqa.jsonl").read_text().splitlines()]
    assert len(samples) == 8 and samples[0]["arguments"]["gen_args_0"]["arg_0"].endswith("A:")
    assert (out / "manifest.json").is_file() and (out / "config.toml").is_file()
    model_hash = results["gptkit"]["model"]["hash"].split(":")[1]
    assert [p.name for p in (out / "cache").iterdir()] == [model_hash[:16]]  # one cache per weights
    assert run_gptkit("verify", out).returncode == 0
    # a second run with the same config, data and weights does nothing
    again = run_gptkit(
        "eval", model_dir, "--tasks", "lambada,coqa", "--limit", "8", "--data-dir", data_dir, "--out", out
    )
    assert again.returncode == 0 and "already complete" in again.stderr


def test_evaluate_does_not_import_transformers(model_dir, tmp_path):
    script = (
        "import sys\n"
        "from gptkit.config import build\n"
        "from gptkit.eval.config import EvalConfig\n"
        "from gptkit.eval.runner import evaluate\n"
        f"cfg = build(EvalConfig, {{'model': {str(model_dir)!r}, 'out': {str(tmp_path / 'o')!r}, "
        "'tasks': ['lambada'], 'limit': 2}, 'eval')\n"
        "evaluate(cfg)\n"
        "print('transformers' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_cli_few_shot_warns_about_truncated_demos(model_dir, data_dir, tmp_path):
    train = coqa_train_file(data_dir / "coqa" / "coqa-train-v1.0.json")
    try:
        out = tmp_path / "few"
        proc = run_gptkit(
            "eval", model_dir, "--tasks", "lambada,coqa", "--shots", "few", "--limit", "3",
            "--data-dir", data_dir, "--out", out,
        )  # fmt: skip
    finally:
        train.unlink()
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["n-shot"] == {"lambada": 15, "coqa": 5}
    report = results["gptkit"]["truncation"]["lambada"]
    assert report["prompts_truncated"] == 3 and report["demos"] == 45 and 0 < report["demos_truncated"] <= 45
    assert "lambada: 3 of 3 prompts are longer than the model's 128-token context" in proc.stderr
    assert results["gptkit"]["tasks"]["coqa"]["demos_from"].endswith("coqa-train-v1.0.json")
    prompt = json.loads((out / "samples_lambada.jsonl").read_text().splitlines()[0])["arguments"]
    assert prompt["gen_args_0"]["arg_0"].startswith("Fill in blank:\n\n")


def test_cli_one_shot_lambada(model_dir, tmp_path):
    out = tmp_path / "one"
    proc = run_gptkit("eval", model_dir, "--tasks", "lambada", "--shots", "1", "--limit", "4", "--out", out)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["n-shot"] == {"lambada": 1} and results["gptkit"]["tasks"]["lambada"]["format"] == "cloze"


def test_cli_user_errors_are_one_line(model_dir, tmp_path):
    assert_one_line_error(
        run_gptkit("eval", model_dir, "--tasks", "coqa", "--out", tmp_path / "o"),
        "coqa-dev-v1.0.json",
        "--data-dir",
    )
    assert_one_line_error(
        run_gptkit("eval", model_dir, "--tasks", "lambada", "--data-dir", tmp_path, "--out", tmp_path / "o"),
        str(tmp_path / "lambada" / "lambada_test.jsonl"),
    )
    assert_one_line_error(run_gptkit("eval", model_dir, "--shots", "2", "--out", tmp_path / "o"), "shots")
    assert_one_line_error(
        run_gptkit("eval", tmp_path / "nope"), "no such model directory"  # default tasks: CoQA data missing too
    )


LOCAL_CLOZE_YAML = """\
task: local_cloze
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{text.split(' ')[:-1]|join(' ')}}}}"
doc_to_target: "{{{{' '+text.split(' ')[-1]}}}}"
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def test_include_path_task_on_local_files_matches_gptkit_lambada(model_dir, tmp_path):
    """A user's lm-eval YAML task (--include-path) over a local JSONL runs offline through the
    same adapter: written as lm-eval's lambada_openai, it scores exactly what gptkit's lambada does."""
    from gptkit.eval.tasks.lambada import load_passages

    data = tmp_path / "passages.jsonl"
    data.write_text("".join(json.dumps({"text": p["text"]}) + "\n" for p in load_passages(shared_path(LAMBADA))[:12]))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "local_cloze.yaml").write_text(LOCAL_CLOZE_YAML.format(data=data))
    out = tmp_path / "o"
    args = ["eval", model_dir, "--tasks", "lambada,local_cloze", "--include-path", tasks, "--limit", "12",
            "--bootstrap-iters", "0", "--set", "eval.lambada.file=" + str(data), "--out", out]  # fmt: skip
    proc = run_gptkit(*args)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())["results"]
    assert results["local_cloze"]["perplexity,none"] == pytest.approx(results["lambada"]["perplexity,none"], rel=1e-6)
    assert results["local_cloze"]["acc,none"] == results["lambada"]["acc,none"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {Path(i["path"]).name for i in manifest["inputs"]} >= {"passages.jsonl", "local_cloze.yaml"}

    (tasks / "local_cloze.yaml").write_text(LOCAL_CLOZE_YAML.format(data=data).replace("- metric: acc\n    aggregation: mean\n    higher_is_better: true\n", ""))
    again = run_gptkit(*args)  # the task changed: evaluated again, not reused
    assert again.returncode == 0, again.stderr
    assert "acc,none" not in json.loads((out / "results.json").read_text())["results"]["local_cloze"]


def test_include_path_must_exist(model_dir, tmp_path):
    proc = run_gptkit("eval", model_dir, "--tasks", "my_task", "--include-path", tmp_path / "nope", "--out", tmp_path / "o")
    assert_one_line_error(proc, "include_path", "nope")


def test_cli_unknown_task_is_one_line(model_dir, tmp_path):
    assert_one_line_error(
        run_gptkit("eval", model_dir, "--tasks", "lambada,no_such_task", "--out", tmp_path / "o"),
        "unknown task 'no_such_task'",
    )


@pytest.mark.slow
def test_passthrough_task_without_local_data_is_one_line(model_dir, tmp_path):
    proc = run_gptkit("eval", model_dir, "--tasks", "arc_easy", "--limit", "2", "--out", tmp_path / "o")
    assert_one_line_error(proc, "arc_easy", "not available offline")


@pytest.mark.slow
def test_trained_run_dir_zero_one_and_few_shot(data_dir, tmp_path):
    """A tiny model trained by `gptkit train` (a run dir): 0-, 1- and few-shot LAMBADA and CoQA."""
    from gptkit.eval.tasks.lambada import load_passages

    docs = tmp_path / "passages.jsonl"
    passages = load_passages(shared_path(LAMBADA))[:400]
    docs.write_text("".join(json.dumps({"id": p["key"], "text": p["text"]}) + "\n" for p in passages))
    tokens = tmp_path / "tokens"
    proc = run_gptkit("data", "pack", docs, "--tokenizer", shared_path("tokenizers/gpt2"), "-o", tokens, "-w", "1",
                      "--val-docs", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    proc = run_gptkit(
        "train", "--data", tokens, "--out", run, "--steps", "20", "--threads", "1",
        "--set", "train.model.preset=nano", "--set", "train.block_size=64", "--set", "train.micro_batch=4",
        "--set", "train.optim.lr=3e-3", "--set", "train.eval_interval=20", "--set", "train.eval_batches=1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    train = coqa_train_file(data_dir / "coqa" / "coqa-train-v1.0.json")
    try:
        for shots, n_shot in (("0", (0, 0)), ("1", (1, 1)), ("few", (15, 5))):
            proc = run_gptkit(
                "eval", run, "--tasks", "lambada,coqa", "--shots", shots, "--limit", "4", "--data-dir", data_dir,
                "--set", "eval.coqa.max_gen_toks=16",
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            results = json.loads((run / "eval" / f"{shots}shot" / "results.json").read_text())
            assert (results["n-shot"]["lambada"], results["n-shot"]["coqa"]) == n_shot
            lambada, coqa = results["results"]["lambada"], results["results"]["coqa"]
            assert 1 < lambada["perplexity,none"] < float("inf") and 0 <= lambada["acc,none"] <= 1
            assert 0 <= coqa["f1,none"] <= 1 and results["gptkit"]["model"]["block_size"] == 64
            if shots == "few":  # 15 LAMBADA demos cannot fit in 64 tokens
                assert results["gptkit"]["truncation"]["lambada"]["demos_truncated"] > 0
    finally:
        train.unlink()


def test_lm_eval_names_and_default_tasks_offline(model_dir, tmp_path):
    """lm-eval's name of gptkit's LAMBADA works offline; with no task named, the tasks whose data
    is absent are skipped with the reason and the run succeeds."""
    common = ["--limit", "4", "--bootstrap-iters", "0", "--no-cache"]
    named = run_gptkit("eval", model_dir, "--tasks", "lambada_openai", *common, "--out", tmp_path / "named")
    assert named.returncode == 0, named.stderr
    assert set(json.loads((tmp_path / "named" / "results.json").read_text())["results"]) == {"lambada"}

    default = run_gptkit("eval", model_dir, *common, "--out", tmp_path / "default")
    assert default.returncode == 0, default.stderr
    assert "skipped coqa: coqa/coqa-dev-v1.0.json: CoQA" in default.stderr and "skipped lambada_standard" in default.stderr
    assert set(json.loads((tmp_path / "default" / "results.json").read_text())["results"]) == {"lambada"}

    asked = run_gptkit("eval", model_dir, "--tasks", "coqa", *common, "--out", tmp_path / "asked")
    assert_one_line_error(asked, "CoQA")


def test_lambada_standard_reads_the_original_plain_text(model_dir, tmp_path):
    data = tmp_path / "data" / "lambada"
    data.mkdir(parents=True)
    (data / "lambada_test_plain_text.txt").symlink_to(PLAIN_TEXT_HEAD)
    out = tmp_path / "o"
    proc = run_gptkit("eval", model_dir, "--tasks", "lambada_standard", "--data-dir", data.parent,
                      "--limit", "4", "--bootstrap-iters", "0", "--out", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    first = json.loads((out / "samples_lambada_standard.jsonl").read_text().splitlines()[0])
    passage = PLAIN_TEXT_HEAD.read_text().splitlines()[0]
    assert first["target"] == " " + passage.split(" ")[-1]


@pytest.mark.slow
def test_print_include_path_lets_lm_eval_itself_run_lambada_openai_offline(model_dir, tmp_path):
    """lm-eval's own CLI, on the exported model, with gptkit's shipped YAML: same scores as gptkit."""
    folder = run_gptkit("eval", "--print-include-path").stdout.strip()
    assert (Path(folder) / "lambada_openai.yaml").is_file()
    assert run_gptkit("export", model_dir, "--out", tmp_path / "hf").returncode == 0
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    lm_eval = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "hf", "--model_args", f"pretrained={tmp_path / 'hf'}",
         "--tasks", "lambada_openai", "--include_path", folder, "--limit", "6",
         "--output_path", tmp_path / "lm_eval"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert lm_eval.returncode == 0, lm_eval.stderr[-2000:]
    theirs = json.loads(next((tmp_path / "lm_eval").rglob("results_*.json")).read_text())["results"]["lambada_openai"]
    proc = run_gptkit("eval", model_dir, "--tasks", "lambada_openai", "--limit", "6", "--bootstrap-iters", "0",
                      "--out", tmp_path / "ours")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ours = json.loads((tmp_path / "ours" / "results.json").read_text())["results"]["lambada"]
    assert ours["acc,none"] == theirs["acc,none"]
    assert ours["perplexity,none"] == pytest.approx(theirs["perplexity,none"], rel=1e-4)


@pytest.mark.slow
def test_cli_chat_template_few_shot_as_turns_and_in_one_turn(model_dir, tmp_path):
    """--chat-template renders a LAMBADA few-shot prompt through the model's template: the system
    instruction, then each demo as a user/assistant exchange (or all in one user turn)."""
    from gptkit.chat.template import attach_template, get_template
    from gptkit.model.store import load_model, save_model
    from gptkit.model.vocab import add_special_tokens

    template = get_template("chatml")
    model, tok = add_special_tokens(*load_model(model_dir), template.specials)
    attach_template(tok, template)
    save_model(tmp_path / "chat", model, tok)
    prompts = {}
    for flag in ("--fewshot-as-multiturn", "--fewshot-in-one-turn"):
        proc = run_gptkit("eval", tmp_path / "chat", "--tasks", "lambada", "--shots", "few", "--fewshot-k", "2",
                          "--limit", "2", "--chat-template", "--system-instruction", "Fill in the blank.", flag,
                          "--out", tmp_path / flag, "--bootstrap-iters", "0")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        sample = json.loads((tmp_path / flag / "samples_lambada.jsonl").read_text().splitlines()[0])
        prompts[flag] = sample["arguments"]["gen_args_0"]["arg_0"]
    turns = prompts["--fewshot-as-multiturn"]
    assert turns.startswith("<|endoftext|><|im_start|>system\nFill in the blank.")
    assert turns.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert turns.count("<|im_start|>user\n") == 3 and turns.count("<|im_start|>assistant\n") == 3  # 2 demos
    one = prompts["--fewshot-in-one-turn"]
    assert one.count("<|im_start|>user\n") == 1 and one.count("<|im_start|>assistant\n") == 1


def test_cli_chat_template_needs_a_model_with_one(model_dir, tmp_path):
    proc = run_gptkit("eval", model_dir, "--tasks", "lambada", "--limit", "1", "--chat-template", "--out", tmp_path)
    assert_one_line_error(proc, "no chat template", str(model_dir))
