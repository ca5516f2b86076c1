"""gptkit sft: loss masks on hand-made conversations, packed rows that never attend across
conversations, the run through the real CLI, and bitwise resume through the trainer."""

import json

import pytest
import torch
from conftest import REPO, assert_one_line_error, run_gptkit
from safetensors.torch import load_file
from test_chat_template import byte_tokenizer

from gptkit.chat.data import ChatDataConfig, chat_data
from gptkit.chat.sft import SFTConfig, collate, pack_rows, sft
from gptkit.chat.template import encode_chat, get_template, template_of
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.store import load_model, save_model
from gptkit.train.config import CheckpointSection, OptimSection, ScheduleSection, TrainConfig

FIXTURES = REPO / "tests" / "data" / "chat"
HI = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]
ASK = [{"role": "system", "content": "S"}, {"role": "user", "content": "?"}, {"role": "assistant", "content": "!"}]


def _examples(loss_on="assistant"):
    template = get_template("chatml")
    tok = byte_tokenizer().with_specials(template.specials)
    out = []
    for messages in (HI, ASK):
        ids, learn = encode_chat(tok, template, messages)
        out.append((ids, [True] * len(ids) if loss_on == "all" else learn))
    return tok, out


def _targets(tok, y_row):
    return [tok.decode([int(t)]) for t in y_row if t >= 0]


def test_padded_batch_learns_only_assistant_tokens():
    tok, (hi, ask) = _examples()
    x, y, _ = collate([[hi], [ask]], tok.eot_id)
    assert x.shape == y.shape == (2, max(len(hi[0]), len(ask[0])) - 1)
    assert _targets(tok, y[0]) == ["Y", "o", "<|im_end|>"]
    assert _targets(tok, y[1]) == ["!", "<|im_end|>"]
    # each target is the token after its input position
    for r, (ids, _) in enumerate((hi, ask)):
        for t in range(len(ids) - 1):
            assert y[r, t] in (-1, ids[t + 1])
    assert (y[0, len(hi[0]) - 1 :] == -1).all()  # padding is never learnt
    _, all_rows = _examples("all")
    _, y_all, _ = collate([[all_rows[0]]], tok.eot_id)
    assert (y_all[0] >= 0).all()  # loss on all tokens: every next token is a target


def test_packed_row_never_predicts_across_conversations():
    tok, (hi, ask) = _examples("all")
    rows = pack_rows([hi, ask, hi], block=len(hi[0]) + len(ask[0]))
    assert [len(r) for r in rows] == [2, 1]
    x, y, doc = collate(rows, tok.eot_id)
    n = len(hi[0])
    assert y[0, n - 1] == -1  # the last token of the first conversation does not predict the next one's
    assert x[0, n] == tok.eot_id and doc[0, n] == 1 and doc[0, n - 1] == 0
    assert (doc[1, n:] == 1).all()  # padding after the short row is its own run
    model = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=64, vocab_size=tok.vocab_size)).eval()
    alone = model(x[:1, n:], doc_ids=doc[:1, n:])
    together = model(x[:1], doc_ids=doc[:1])[:, n:]
    assert torch.allclose(alone, together, atol=1e-5)  # the second conversation does not see the first


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Conversation shards from the fixtures and a tiny byte-level model to tune."""
    root = tmp_path_factory.mktemp("sft")
    chat_data(ChatDataConfig(inputs=[FIXTURES], out=root / "chat", oasst_branch="all", val_fraction=0.3))
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=128, vocab_size=257))
    save_model(root / "model", model, byte_tokenizer())
    return root


def _train_cfg(out, **kw):
    base = dict(out=out, steps=8, micro_batch=2, eval_interval=4, eval_batches=2, log_interval=1, device="cpu",
                threads=1, optim=OptimSection(lr=3e-3), schedule=ScheduleSection(warmup_steps=2),
                checkpoint=CheckpointSection(interval=2, keep_last=5))  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _weights(run):
    return load_file(str(run / "checkpoints" / (run / "latest").read_text().strip() / "model.safetensors"))


def test_resume_is_bitwise(setup, tmp_path):
    cfg = SFTConfig(model=setup / "model", data=setup / "chat", batching="packed")
    whole = sft(cfg, _train_cfg(tmp_path / "whole"))
    assert whole.step == 8 and whole.final_val_loss is not None
    sft(cfg, _train_cfg(tmp_path / "split", stop_after=3))
    resumed = sft(cfg, _train_cfg(tmp_path / "split"))
    assert resumed.resumed_from == 3
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "split")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses if "loss" in r] == list(range(1, 9))


def test_cli_run_learns_and_carries_the_template(setup, tmp_path):
    run = tmp_path / "run"
    proc = run_gptkit("sft", setup / "model", "--data", setup / "chat", "--out", run, "--template", "hh",
                      "--set", "train.steps=12", "--set", "train.micro_batch=4", "--set", "train.eval_interval=6",
                      "--set", "train.device=cpu", "--set", "train.threads=1", "--set", "train.optim.lr=3e-3",
                      "--set", "train.schedule.warmup_steps=0", "--set", "train.samples.prompts=[]",
                      "--set", "train.log_interval=1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "done: step 12/12" in proc.stdout
    first = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    last_val = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "val_loss" in line]
    assert first["step"] == 1 and last_val[1]["val_loss"] < last_val[0]["val_loss"] < first["loss"]  # it learns
    model, tok = load_model(run)
    assert template_of(tok, run).name == "hh" and model.config.vocab_size == 257  # hh adds no tokens
    state = json.loads((run / "checkpoints" / "step_00000012" / "state.json").read_text())
    assert state["objective"] == "sft"


def test_cli_errors_are_one_line(setup, tmp_path):
    proc = run_gptkit("sft", setup / "model", "--data", setup / "model", "--out", tmp_path / "r")
    assert_one_line_error(proc, "manifest.json")
    proc = run_gptkit("sft", setup / "model", "--data", setup / "chat", "--out", tmp_path / "r2", "--loss-on", "some")
    assert_one_line_error(proc, "sft.loss_on")


def test_rerun_with_another_template_is_refused(setup, tmp_path):
    from gptkit.chat.sft import BASE_DIR, prepare_base
    from gptkit.errors import UsageError
    from gptkit.stage import StageRun

    StageRun("sft", tmp_path / "run", {}).claim()  # an earlier sft run's folder
    prepare_base(setup / "model", get_template("chatml"), tmp_path / "run" / BASE_DIR)
    with pytest.raises(UsageError, match="prepared with the 'chatml' template"):
        sft(SFTConfig(model=setup / "model", data=setup / "chat", template="hh"), _train_cfg(tmp_path / "run"))


def test_exported_model_stops_at_the_end_of_the_assistant_turn(tmp_path):
    """transformers' generate() on an exported SFT'd model ends the reply at <|im_end|>, because the
    generation config lists it with <|endoftext|> as an end-of-sequence id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    questions = [f"question {i}?" for i in range(24)]
    (tmp_path / "convs.jsonl").write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "OK"}]}) + "\n"
        for q in questions))  # fmt: skip
    chat_data(ChatDataConfig(inputs=[tmp_path / "convs.jsonl"], out=tmp_path / "chat", val_fraction=0.2))
    torch.manual_seed(0)
    save_model(tmp_path / "model", GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64, vocab_size=257)),
               byte_tokenizer())  # fmt: skip
    sft(SFTConfig(model=tmp_path / "model", data=tmp_path / "chat"),
        _train_cfg(tmp_path / "run", steps=40, micro_batch=4, eval_interval=0, optim=OptimSection(lr=1e-2)))
    proc = run_gptkit("export", tmp_path / "run", "--out", tmp_path / "hf")
    assert proc.returncode == 0, proc.stderr
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    end_of_turn = tok.convert_tokens_to_ids("<|im_end|>")
    assert json.loads((tmp_path / "hf" / "generation_config.json").read_text())["eos_token_id"] == [256, end_of_turn]
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    prompt = tok.apply_chat_template([{"role": "user", "content": "question 3?"}], add_generation_prompt=True,
                                     return_tensors="pt", return_dict=True)  # fmt: skip
    out = hf.generate(**prompt, max_new_tokens=30, do_sample=False)[0, prompt["input_ids"].shape[1] :].tolist()
    assert tok.decode(out) == "OK<|im_end|>"  # stopped at the end of the turn, not after 30 tokens
    # gptkit eval's generation stops there too, as lm-eval's HFLM does on the export
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from gptkit.eval.adapter import GptkitLM

    model, gptkit_tok = load_model(tmp_path / "run")
    lm = GptkitLM(model, gptkit_tok, template=template_of(gptkit_tok, tmp_path / "run"))
    context = lm.apply_chat_template([{"role": "user", "content": "question 3?"}])
    request = Instance("generate_until", {}, (context, {"until": ["\n\n"], "max_gen_toks": 30, "do_sample": False}), 0)
    theirs = HFLM(pretrained=str(tmp_path / "hf"), batch_size=1, device="cpu").generate_until([request])
    assert lm.generate_until([request]) == theirs == ["OK"]


def test_conversations_cut_before_the_first_assistant_token_are_skipped():
    """A long user turn cut at the context leaves nothing to learn: the row is skipped and counted."""
    from gptkit.chat.sft import SFTObjective
    from gptkit.reporting import Reporter
    from gptkit.train.objective import Setup

    class Warnings(Reporter):
        said: list[str] = []

        def warn(self, message: str) -> None:
            self.said.append(message)

    tok, examples = _examples()
    objective = SFTObjective(FIXTURES, FIXTURES)
    objective.tokenizer, objective.template, objective.loss_on = tok, get_template("chatml"), "assistant"
    long_question = [{"role": "user", "content": "x" * 60}, {"role": "assistant", "content": "ok"}]
    objective.train_conversations, objective.val_conversations = [HI, long_question, ASK], [HI]
    reporter = Warnings()
    config = GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=40, vocab_size=tok.vocab_size)
    objective.bind(Setup(config, 40, 2, 1, 0, 1, 0, torch.device("cpu"), reporter=reporter))
    assert [ids for ids, _ in objective.train_examples] == [ids for ids, _ in examples]
    assert any("1 training conversations cut before their first assistant token" in m for m in reporter.said)
