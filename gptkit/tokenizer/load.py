"""Load a byte-level BPE tokenizer from any of the file layouts it comes in.

- a gptkit tokenizer directory or an HF directory: ``tokenizer.json``
- OpenAI's GPT-2 files: ``encoder.json`` + ``vocab.bpe``
- HF's slow GPT-2 files: ``vocab.json`` + ``merges.txt``
- a directory with a ``tokenizer/`` sub-directory (token shards, model and run dirs)
- a ``tokenizer.json`` file itself
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptkit.errors import InputError
from gptkit.tokenizer.bytes_unicode import to_bytes
from gptkit.tokenizer.tokenizer import Tokenizer

_LAYOUTS = (("tokenizer.json",), ("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt"))


def load_tokenizer(path: str | Path) -> Tokenizer:
    """The tokenizer stored at ``path`` (see the module docstring for the layouts)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        return from_hf_json(path)
    if not path.is_dir():
        raise InputError("no such tokenizer file or directory", path)
    for names in _LAYOUTS:
        if all((path / n).is_file() for n in names):
            if names == ("tokenizer.json",):
                return from_hf_json(path / names[0])
            return from_vocab_merges(path / names[0], path / names[1])
    if (path / "tokenizer").is_dir():
        return load_tokenizer(path / "tokenizer")
    raise InputError(
        "not a tokenizer directory (expected tokenizer.json, encoder.json + vocab.bpe, "
        "or vocab.json + merges.txt)", path,
    )  # fmt: skip


def from_vocab_merges(vocab_path: Path, merges_path: Path) -> Tokenizer:
    """OpenAI ``encoder.json`` + ``vocab.bpe`` (or HF ``vocab.json`` + ``merges.txt``)."""
    vocab = _read_json(vocab_path)
    if not isinstance(vocab, dict):
        raise InputError("expected a JSON object {token: id}", vocab_path)
    merges = []
    for line_no, line in enumerate(_read_text(merges_path).split("\n"), 1):
        if not line or (line_no == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise InputError(f"expected 'left right', got {line!r}", merges_path, line_no)
        merges.append((parts[0], parts[1]))
    return build(vocab, merges, specials={}, source=merges_path)


def from_hf_json(path: Path) -> Tokenizer:
    """An HF ``tokenizer.json`` holding a byte-level BPE with GPT-2 pre-tokenisation."""
    data = _read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE" or "merges" not in model:
        raise InputError("not a BPE tokenizer.json (gptkit supports byte-level BPE only)", path)
    _check_byte_level(data, model, path)
    if not isinstance(model["merges"], list):
        raise InputError("model.merges: expected a list", path)
    merges = []
    for i, m in enumerate(model["merges"]):
        pair = m.split(" ") if isinstance(m, str) else m
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(t, str) for t in pair):
            raise InputError(f"model.merges[{i}]: expected a pair, got {m!r}", path)
        merges.append((pair[0], pair[1]))
    if not isinstance(model.get("vocab"), dict):
        raise InputError("model.vocab: expected a JSON object {token: id}", path)
    tok = build(model["vocab"], merges, _added_tokens(data.get("added_tokens") or [], path), source=path)
    tok.extra_config = _kept_config(path.parent / "tokenizer_config.json")
    return tok


def _added_tokens(entries: Any, path: Path) -> dict[str, int]:
    """``added_tokens`` as ``{content: id}``; an entry without a string content or integer id is
    bad input, named by its index."""
    if not isinstance(entries, list):
        raise InputError("added_tokens: expected a list", path)
    specials = {}
    for i, entry in enumerate(entries):
        content = entry.get("content") if isinstance(entry, dict) else None
        token_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(content, str) or not isinstance(token_id, int) or isinstance(token_id, bool):
            raise InputError(f"added_tokens[{i}]: expected {{'content': str, 'id': int, ...}}, got {entry!r:.80}", path)
        specials[content] = token_id
    return specials


#: ``tokenizer_config.json`` keys that travel with a tokenizer (written back by ``Tokenizer.save``).
KEPT_CONFIG_KEYS = ("chat_template", "gptkit_chat_template", "eos_token")


def _kept_config(path: Path) -> dict[str, Any]:
    """The chat template (and its end-of-turn token) stored beside a gptkit tokenizer."""
    if not path.is_file():
        return {}
    data = _read_json(path)
    if not isinstance(data, dict) or "gptkit_chat_template" not in data:
        return {}
    return {k: data[k] for k in KEPT_CONFIG_KEYS if k in data}


def build(vocab: dict[str, Any], merges: list[tuple[str, str]], specials: dict[str, int], source: Path) -> Tokenizer:
    """A :class:`Tokenizer` from byte-level token strings.

    Vocabulary entries that are neither a single byte nor made by a merge (``<|endoftext|>`` in
    OpenAI's ``encoder.json``) are special tokens.
    """
    made = {a + b for a, b in merges}
    ranks: dict[bytes, int] = {}
    specials = dict(specials)
    for token, i in vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise InputError(f"vocabulary entry {token!r}: id {i!r} is not a non-negative integer", source)
        if token in specials:
            continue
        try:
            data = to_bytes(token)
        except KeyError:
            if len(token) > 1 and token not in made:
                specials[token] = i
                continue
            raise InputError(f"vocabulary entry {token!r} is not a byte-level token", source) from None
        if len(data) > 1 and token not in made:
            specials[token] = i
            continue
        ranks[data] = i
    missing = 256 - sum(1 for b in ranks if len(b) == 1)
    if missing:
        raise InputError(f"vocabulary lacks {missing} of the 256 single-byte tokens (not byte-level BPE)", source)
    byte_merges = []
    for a, b in merges:
        if a not in vocab or b not in vocab or a + b not in vocab:
            raise InputError(f"merge {a!r} {b!r} uses or makes a token missing from the vocabulary", source)
        byte_merges.append((to_bytes(a), to_bytes(b)))
    ids = [*ranks.values(), *specials.values()]
    if len(set(ids)) != len(ids):
        raise InputError("two vocabulary entries share an id", source)
    return Tokenizer(ranks, byte_merges, specials, name=source.parent.name or "bpe")


def _check_byte_level(data: dict, model: dict, path: Path) -> None:
    """Reject tokenizer.json features that would make ids differ from GPT-2-style BPE."""
    pre = data.get("pre_tokenizer") or {}
    inner = pre.get("pretokenizers") if isinstance(pre, dict) and pre.get("type") == "Sequence" else None
    if isinstance(inner, list) and len(inner) == 1:
        pre = inner[0]
    if not isinstance(pre, dict):
        pre = {}
    problems = []
    if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True) or pre.get("add_prefix_space"):
        problems.append("pre_tokenizer is not ByteLevel with GPT-2's regex and no prefix space")
    if data.get("normalizer") is not None:
        problems.append("it has a normalizer")
    if model.get("dropout") or model.get("byte_fallback") or model.get("ignore_merges"):
        problems.append("model uses dropout, byte_fallback or ignore_merges")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        problems.append("model uses subword prefixes/suffixes")
    if problems:
        raise InputError(f"unsupported tokenizer.json: {'; '.join(problems)} (gptkit handles GPT-2-style byte-level BPE)", path)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8: {e}", path) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e}", path, e.lineno) from None
