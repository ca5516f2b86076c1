"""Encoding documents on worker processes (a light module: workers import only this and numpy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gptkit.pack.format import dtype_for_vocab

_WORKER: dict[str, Any] = {}


def init_worker(tokenizer: Any) -> None:
    """Keep the tokenizer for :func:`encode_documents` (once per worker process)."""
    _WORKER["tok"] = tokenizer
    _WORKER["dtype"] = dtype_for_vocab(tokenizer.vocab_size)


def encode_documents(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of ``texts`` concatenated, each followed by ``<|endoftext|>``, and their lengths."""
    tok, dtype = _WORKER["tok"], _WORKER["dtype"]
    if getattr(tok, "engine", None) == "tiktoken":  # straight into numpy: no Python list of ints
        enc = tok.tiktoken
        parts = [enc.encode_to_numpy(t, disallowed_special=()) for t in texts]
    else:
        parts = [np.asarray(ids, dtype=np.int64) for ids in tok.encode_batch(texts, num_threads=1)]
    lengths = np.fromiter((len(p) + 1 for p in parts), dtype=np.int64, count=len(parts))
    tokens = np.empty(int(lengths.sum()), dtype=dtype)
    ends = np.cumsum(lengths)
    for p, end in zip(parts, ends, strict=True):
        tokens[end - len(p) - 1 : end - 1] = p
    tokens[ends - 1] = tok.eot_id
    return tokens, lengths
