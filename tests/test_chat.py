"""gptkit chat: a scripted session through stdin on a model tuned to known answers, history
trimmed to the context with the system prompt kept, stop strings, and one-line errors."""

import json

import pytest
import torch
from conftest import assert_one_line_error, run_gptkit
from test_chat_template import byte_tokenizer

from gptkit.chat.data import ChatDataConfig, chat_data
from gptkit.chat.session import ChatSession, ChatSettings, ReplyStream
from gptkit.chat.sft import SFTConfig, sft
from gptkit.chat.template import encode_chat, get_template
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.store import save_model
from gptkit.train.config import CheckpointSection, OptimSection, SampleSection, ScheduleSection, TrainConfig

QA = [("What is your name?", "Kit."), ("Say hello.", "Hello!"), ("2+2?", "4")]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny model tuned (through gptkit sft) until it answers three questions by heart."""
    root = tmp_path_factory.mktemp("chat")
    lines = [json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) for q, a in QA]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n")
    chat_data(ChatDataConfig(inputs=[root / "qa.jsonl"], out=root / "chat", val_fraction=0))
    torch.manual_seed(0)
    save_model(root / "base", GPT(GPTConfig(n_layer=2, n_head=2, n_embd=48, block_size=96, vocab_size=257)),
               byte_tokenizer())  # fmt: skip
    train = TrainConfig(out=root / "run", steps=60, micro_batch=3, eval_interval=0, device="cpu", threads=1,
                        optim=OptimSection(lr=1e-2), schedule=ScheduleSection(warmup_steps=5),
                        checkpoint=CheckpointSection(interval=0), samples=SampleSection(prompts=[]))  # fmt: skip
    sft(SFTConfig(model=root / "base", data=root / "chat"), train)
    return root


def test_scripted_session_through_stdin(tuned, tmp_path):
    saved = tmp_path / "conv.jsonl"
    script = "\n".join(["What is your name?", "/set top_k=5 max_tokens=20", "2+2?", "/clear", "Say hello.",
                        "/system Be brief.", f"/save {saved}", "/set temperature=hot", "/exit", "2+2?"])  # fmt: skip
    proc = run_gptkit("chat", tuned / "run", "--temperature", "0", input=script + "\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["Kit.", "4", "Hello!"]  # one reply per line; nothing after /exit
    assert "max_tokens=20" in proc.stderr and "error: /set temperature=hot" in proc.stderr
    messages = json.loads(saved.read_text())["messages"]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1:] == [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"}]


def test_history_is_trimmed_oldest_first_and_keeps_the_system_prompt():
    template = get_template("chatml")
    tok = byte_tokenizer().with_specials(template.specials)
    model = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=512, vocab_size=tok.vocab_size))
    session = ChatSession(model, tok, template, ChatSettings(), system="SYS")
    for i in range(4):
        session.turns += [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
    session.turns.append({"role": "user", "content": "last"})
    full = len(session.prompt_ids(10_000))
    assert session.dropped == 0
    last_two, _ = encode_chat(tok, template, [{"role": "system", "content": "SYS"}, *session.turns[-3:]], True)
    ids = session.prompt_ids(len(last_two))
    assert session.dropped == 3 and ids == last_two and len(ids) < full
    text = tok.decode(ids)
    assert "SYS" in text and "question 3" in text and "question 2" not in text and text.endswith("assistant\n")


def test_stop_strings_are_cut_even_when_split_across_tokens():
    tok = byte_tokenizer()
    shown = []
    stream = ReplyStream(tok, ("\n\nHuman:",), shown.append)
    for byte in "Fine. ü\n\nHuman: more".encode():
        stream.feed(byte)
        assert "\n\n" not in "".join(shown)  # a possible stop string is held back
    assert stream.finish() == "Fine. ü" == "".join(shown)
    stream = ReplyStream(tok, ("\n\nHuman:",), lambda _: None)
    for byte in b"a\n\nb\n\nHu":
        stream.feed(byte)
    assert stream.finish() == "a\n\nb\n\nHu"


def test_model_without_template_is_a_one_line_error(tmp_path):
    save_model(tmp_path / "m", GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=16, vocab_size=257)),
               byte_tokenizer())  # fmt: skip
    assert_one_line_error(run_gptkit("chat", tmp_path / "m", input="hi\n"), "no chat template", str(tmp_path / "m"))
