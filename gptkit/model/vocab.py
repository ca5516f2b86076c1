"""New special tokens for a trained model: the tokenizer and the embedding grow together.

Chat templates (role and end-of-turn markers) and fine-tuning transforms (start, delimiter and
extract tokens) both add tokens the pre-trained model never saw. Their embedding rows start at the
mean of the existing rows (Hewitt, 2021; transformers' ``mean_resizing``): a random row would have a
norm unlike the others and, through the tied output layer, take probability from real tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch

from gptkit.model.gpt import GPT


def add_special_tokens(model: GPT, tokenizer: Any, tokens: Sequence[str]) -> tuple[GPT, Any]:
    """``(model, tokenizer)`` with ``tokens`` added as specials; unchanged when it has them all."""
    if all(t in tokenizer.specials for t in tokens):
        return model, tokenizer
    grown = tokenizer.with_specials(tokens)
    return resize_vocab(model, grown.vocab_size), grown


@torch.no_grad()
def resize_vocab(model: GPT, vocab_size: int) -> GPT:
    """A copy of ``model`` with a vocabulary of ``vocab_size`` ids (never smaller); new rows are
    the mean of the old ones."""
    old = model.config.vocab_size
    if vocab_size < old:
        raise ValueError(f"cannot shrink the vocabulary from {old} to {vocab_size}")
    grown = GPT(dataclasses.replace(model.config, vocab_size=vocab_size))
    state = model.state_dict()
    wte = state.pop("transformer.wte.weight")
    state.pop("lm_head.weight", None)  # tied to wte
    new = grown.transformer.wte.weight
    new[:old] = wte[:old]
    new[old:] = wte[:old].mean(dim=0)
    missing, unexpected = grown.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"transformer.wte.weight", "lm_head.weight"}, (missing, unexpected)
    return grown.to(device=wte.device, dtype=wte.dtype)
