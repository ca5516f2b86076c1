"""Loading tokenizers from every layout; GPT-2 ids bit-identical to tiktoken and HF tokenizers."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import shared_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gptkit.errors import InputError
from gptkit.tokenizer import EOT, load_tokenizer
from gptkit.tokenizer.bytes_unicode import byte_to_char, gpt2_byte_order, to_bytes, to_unicode
from gptkit.tokenizer.tokenizer import GPT2_PATTERN

TRICKY = [
    "Hello world!",
    "",
    " ",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\n\n\nthree blank\r\nlines  \n  \n",
    "x" + " " * 37 + "y" + "\n" * 9 + "z\t\t \t",
    "I'm, you're, he'll, we've, they'd, it's, don't, O'Neil, 'S 'LL 'VE (uppercase contractions)",
    "digits 0 12 345 6789 3.14159 1,000,000 ٣٤٥ ⅷ ² 2024-01-01",
    "emoji 🚀🔥 👩‍👩‍👧‍👦 🇫🇷 ❤️ and skin tones 👍🏽",
    "unicode: naïve café Ελληνικά русский 中文字符 日本語 한국어 עברית العربية हिन्दी",
    "math ∀x∈ℝ: x² ≥ 0 — “quotes” ‘single’ … ©®™ \u00a0nbsp\u2009thin\u3000ideographic",
    "zero\u200bwidth\u200djoiner\ufeffbom combining e\u0301 a\u0308",
    "code: def f(x):\n    return x**2  # comment\n\tif a != b: pass",
    "doc one<|endoftext|>doc two <|endoftext|> three<|endoftext|><|endoftext|>",
    "<|endoftext|>",
    "<|endoftext",
    "control \x00\x01\x7f\x85 chars",
]


@pytest.fixture(scope="module")
def gpt2():
    return load_tokenizer(shared_path("tokenizers/gpt2"))


@pytest.fixture(scope="module")
def hf_gpt2():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(shared_path("tokenizers/gpt2/hf/tokenizer.json")))


@pytest.fixture(scope="module")
def raw_tiktoken():
    """tiktoken built straight from OpenAI's files, without gptkit's loader."""
    import tiktoken

    folder = shared_path("tokenizers/gpt2")
    encoder = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    ranks = {to_bytes(t): i for t, i in encoder.items() if t != EOT}
    return tiktoken.Encoding("gpt2-raw", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={EOT: 50256})


def test_bytes_unicode_is_a_bijection():
    chars = byte_to_char()
    assert len(set(chars)) == 256 and chars[ord(" ")] == "Ġ" and chars[ord("\n")] == "Ċ" and chars[ord("A")] == "A"
    data = bytes(range(256))
    assert to_bytes(to_unicode(data)) == data
    assert to_unicode(b" the\n") == "ĠtheĊ" and to_bytes("ĠtheĊ") == b" the\n"
    assert sorted(gpt2_byte_order()) == list(range(256))
    for not_byte_level in (" ", "a b", "\x7f", "中", "<|endoftext|>\u0144"):  # raw space/DEL, beyond the map
        with pytest.raises(KeyError):
            to_bytes(not_byte_level)


def test_all_layouts_load_the_same_tokenizer(gpt2, tmp_path):
    hf_dir = load_tokenizer(shared_path("tokenizers/gpt2/hf"))
    hf_file = load_tokenizer(shared_path("tokenizers/gpt2/hf/tokenizer.json"))
    assert gpt2.vocab_size == 50257 and gpt2.eot_id == 50256 and len(gpt2.merges) == 50000
    assert gpt2.engine == "tiktoken"
    assert gpt2.hash == hf_dir.hash == hf_file.hash
    # HF's slow layout (vocab.json + merges.txt) and a `tokenizer/` sub-directory
    slow = tmp_path / "slow"
    slow.mkdir()
    shutil.copy(shared_path("tokenizers/gpt2/encoder.json"), slow / "vocab.json")
    shutil.copy(shared_path("tokenizers/gpt2/vocab.bpe"), slow / "merges.txt")
    assert load_tokenizer(slow).hash == gpt2.hash
    gpt2.save(tmp_path / "run" / "tokenizer")
    assert load_tokenizer(tmp_path / "run").hash == gpt2.hash


def test_saved_tokenizer_loads_in_tokenizers_and_transformers(gpt2, tmp_path):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    gpt2.save(tmp_path)
    text = TRICKY[6] + TRICKY[8] + " <|endoftext|> " + TRICKY[9]
    want = gpt2.encode(text, allowed_special="all")
    assert Tokenizer.from_file(str(tmp_path / "tokenizer.json")).encode(text).ids == want
    assert AutoTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == want
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert fast(text)["input_ids"] == want
    assert fast.decode(want) == text


def test_saved_tokenizer_loads_in_tiktoken_from_its_own_files(gpt2, tmp_path):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    gpt2.save(tmp_path)
    spec = json.loads((tmp_path / "tiktoken.json").read_text())
    enc = tiktoken.Encoding(
        name=spec["name"],
        pat_str=spec["pat_str"],
        mergeable_ranks=load_tiktoken_bpe(str(tmp_path / "tokenizer.tiktoken")),
        special_tokens=spec["special_tokens"],
    )
    text = TRICKY[6] + TRICKY[8] + " <|endoftext|> " + TRICKY[9]
    assert enc.encode(text, allowed_special="all") == gpt2.encode(text, allowed_special="all")
    assert enc.n_vocab == gpt2.vocab_size


def test_known_ids(gpt2):
    assert gpt2.encode("Hello world!") == [15496, 995, 0]
    assert gpt2.encode("a<|endoftext|>b", allowed_special="all") == [64, 50256, 65]
    assert 50256 not in gpt2.encode("a<|endoftext|>b")  # ordinary: plain text
    assert gpt2.decode([50256]) == EOT


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_identical_across_engines(text, gpt2, hf_gpt2, raw_tiktoken):
    ours = gpt2.encode(text)
    assert ours == raw_tiktoken.encode_ordinary(text) == gpt2.hf_ordinary.encode(text).ids
    special = gpt2.encode(text, allowed_special="all")
    assert special == raw_tiktoken.encode(text, allowed_special="all") == hf_gpt2.encode(text).ids
    assert gpt2.decode(ours) == text and gpt2.decode(special) == text
    if EOT not in text:
        assert ours == special


@pytest.mark.parametrize(
    "relative, kind",
    [
        ("lambada/lambada_test.jsonl", "jsonl"),
        ("corpora/tinyshakespeare/input.txt", "paragraphs"),
        ("corpora/wikitext/wikitext-103.test.tokens", "paragraphs"),
        ("corpora/wikitext/wikitext-2-raw.test.hf-rows-nonblank.crlf.raw", "paragraphs"),
    ],
)
def test_real_text_identical_across_engines(relative, kind, gpt2, hf_gpt2, raw_tiktoken):
    raw = shared_path(relative).read_text(encoding="utf-8")
    if kind == "jsonl":
        texts = [json.loads(line)["text"] for line in raw.splitlines() if line.strip()]
    else:
        texts = raw.split("\n\n")
    ours = gpt2.encode_batch(texts, num_threads=1)
    assert ours == raw_tiktoken.encode_ordinary_batch(texts, num_threads=1)
    assert ours == [e.ids for e in hf_gpt2.encode_batch(texts)]
    assert sum(map(len, ours)) > 100_000
    whole = gpt2.encode(raw)
    assert whole == hf_gpt2.encode(raw).ids and gpt2.decode(whole) == raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200)
       | st.lists(st.sampled_from(["a", " ", "  ", "\n", "'s", "'", "1", "é", "🚀", "<|endoftext|>", "\t", "x"]))
       .map("".join))  # fmt: skip
def test_property_engines_agree_and_round_trip(gpt2, hf_gpt2, raw_tiktoken, text):
    ours = gpt2.encode(text)
    assert ours == raw_tiktoken.encode_ordinary(text) == gpt2.hf_ordinary.encode(text).ids
    assert gpt2.encode(text, allowed_special="all") == hf_gpt2.encode(text).ids
    assert gpt2.decode(ours) == text


@pytest.mark.parametrize(
    "files, message",
    [
        ({}, "not a tokenizer directory"),
        ({"tokenizer.json": "{oops"}, "invalid JSON"),
        ({"tokenizer.json": json.dumps({"model": {"type": "WordPiece", "vocab": {}}})}, "BPE"),
        ({"encoder.json": json.dumps({"a": 0}), "vocab.bpe": "#version: 0.2\n"}, "single-byte tokens"),
    ],
)
def test_bad_tokenizer_files_are_input_errors(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_tokenizer(tmp_path)


def test_unsupported_hf_tokenizer_is_rejected(tmp_path):
    data = json.loads(shared_path("tokenizers/gpt2/hf/tokenizer.json").read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "Lowercase"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="normalizer"):
        load_tokenizer(tmp_path)


def test_hf_engine_when_merge_ids_do_not_follow_the_merge_order():
    """tiktoken cannot express merges whose ids are out of order: HF tokenizers encodes them."""
    from gptkit.tokenizer import Tokenizer

    ranks = {bytes([b]): b for b in range(256)} | {b"abc": 256, b"ab": 257}
    tok = Tokenizer(ranks, [(b"a", b"b"), (b"ab", b"c")], {EOT: 258})
    assert tok.engine == "hf"
    assert tok.encode("abc abd") == [256, 32, 257, ord("d")] == tok.encode_batch(["abc abd"])[0]
    assert tok.encode("ab<|endoftext|>", allowed_special="all") == [257, 258]
    assert tok.decode([256, 258]) == "abc" + EOT
