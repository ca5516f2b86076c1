"""Chat templates: golden renderings, the learn mask, transformers' apply_chat_template giving the same
ids and assistant mask, the template travelling with the tokenizer, and new embedding rows."""

import os

import pytest
import torch
from conftest import REPO, shared_path

from gptkit.chat.template import (
    TEMPLATES,
    attach_template,
    encode_chat,
    get_template,
    render_text,
    template_of,
)
from gptkit.errors import InputError
from gptkit.io.shards import iter_jsonl
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.store import load_model, save_model
from gptkit.model.vocab import add_special_tokens
from gptkit.tokenizer import EOT, Tokenizer, load_tokenizer

GOLDEN = REPO / "tests" / "data" / "chat" / "golden"
UPDATE = os.environ.get("GPTKIT_UPDATE_GOLDEN") == "1"


def byte_tokenizer() -> Tokenizer:
    """Byte-level BPE without merges: every byte is a token, <|endoftext|> is id 256."""
    return Tokenizer({bytes([i]): i for i in range(256)}, [], {EOT: 256}, name="bytes")


def _conversation():
    """A two-turn OpenAssistant conversation from the fixtures, with a system prompt added."""
    from gptkit.chat.sources import SourceOptions, record_conversations

    trees = iter_jsonl(REPO / "tests" / "data" / "chat" / "oasst_en_3_trees.jsonl")
    convs = [c for _, tree in trees for c in record_conversations(tree, "x", SourceOptions("all"))]
    longest = max(convs, key=lambda c: len(c["messages"]))["messages"]
    assert len(longest) >= 4
    return [{"role": "system", "content": "You are a helpful assistant."}, *longest]


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (GPTKIT_UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_golden_rendering_and_learnt_text(name):
    template = get_template(name)
    tok = byte_tokenizer().with_specials(template.specials)
    messages = _conversation()
    ids, learn = encode_chat(tok, template, messages)
    _check_golden(f"{name}.txt", render_text(template, messages))
    _check_golden(f"{name}.learnt.txt", tok.decode([i for i, keep in zip(ids, learn, strict=True) if keep]))
    _check_golden(f"{name}.prompt.txt", render_text(template, messages[:-1], add_generation_prompt=True))


def test_learn_mask_on_a_hand_made_conversation():
    template = get_template("chatml")
    tok = byte_tokenizer().with_specials(template.specials)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
                {"role": "user", "content": "?"}, {"role": "assistant", "content": "!"}]  # fmt: skip
    ids, learn = encode_chat(tok, template, messages)
    learnt = [tok.decode([i]) for i, keep in zip(ids, learn, strict=True) if keep]
    assert learnt == ["Y", "o", "<|im_end|>", "!", "<|im_end|>"]
    assert ids[0] == tok.eot_id and not learn[0]
    hh = get_template("hh")
    ids, learn = encode_chat(byte_tokenizer(), hh, messages)
    assert byte_tokenizer().decode([i for i, keep in zip(ids, learn, strict=True) if keep]) == " Yo !<|endoftext|>"


def _hf_equal(tok_dir, template, messages):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    tok = load_tokenizer(tok_dir)
    for msgs, prompt in ((messages, False), (messages[:-1], True)):
        ids, learn = encode_chat(tok, template, msgs, add_generation_prompt=prompt)
        got = hf.apply_chat_template(msgs, add_generation_prompt=prompt, tokenize=True, return_dict=True,
                                     return_assistant_tokens_mask=True)  # fmt: skip
        assert list(got["input_ids"]) == ids
        assert [bool(m) for m in got["assistant_masks"]] == learn


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_transformers_apply_chat_template_gives_the_same_ids(tmp_path, name):
    template = get_template(name)
    tok = byte_tokenizer().with_specials(template.specials)
    attach_template(tok, template)
    tok.save(tmp_path / "tok")
    _hf_equal(tmp_path / "tok", template, _conversation())


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_transformers_equality_with_gpt2_merges(tmp_path, name):
    template = get_template(name)
    tok = load_tokenizer(shared_path("tokenizers/gpt2")).with_specials(template.specials)
    attach_template(tok, template)
    tok.save(tmp_path / "tok")
    messages = _conversation()
    messages[1]["content"] = "  leading spaces, ünïcödé, a\n\nblank line and <|endoftext|> as text "
    _hf_equal(tmp_path / "tok", template, messages)


def test_template_and_new_rows_travel_with_the_model(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32, vocab_size=257))
    tok = byte_tokenizer()
    with pytest.raises(InputError, match="no chat template"):
        template_of(tok, "m")
    template = get_template("chatml")
    grown, grown_tok = add_special_tokens(model, tok, template.specials)
    assert grown_tok.specials == {EOT: 256, "<|im_start|>": 257, "<|im_end|>": 258}
    assert grown.config.vocab_size == 259
    wte = grown.transformer.wte.weight
    assert torch.equal(wte[:257], model.transformer.wte.weight[:257])
    assert torch.allclose(wte[258], model.transformer.wte.weight[:257].mean(0))
    x = torch.tensor([[1, 2, 3]])
    assert torch.allclose(grown(x)[..., :257], model(x), atol=1e-6)  # old tokens unchanged
    attach_template(grown_tok, template)
    save_model(tmp_path / "m", grown, grown_tok)
    _, loaded_tok = load_model(tmp_path / "m")
    assert template_of(loaded_tok, tmp_path / "m") is template
    assert add_special_tokens(grown, grown_tok, template.specials)[0] is grown  # already there: no change
