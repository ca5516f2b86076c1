"""Sampling from a GPT with a KV cache, one token at a time (streamed).

:func:`generate_ids` yields token ids as they are sampled; :func:`generate_text` turns them into
text pieces, holding back bytes that do not yet form whole UTF-8 characters.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from gptkit.model.gpt import GPT


@dataclass
class SamplingConfig:
    """How to pick the next token. ``temperature=0`` is greedy decoding."""

    max_tokens: int = 100
    temperature: float = 1.0
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set of tokens whose probability reaches p
    seed: int | None = None
    stop_at_eot: bool = True  # stop (without yielding it) at <|endoftext|>

    def __post_init__(self) -> None:
        if self.max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def next_token_distribution(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """Probabilities ``(B, V)`` after temperature, top-k and top-p filtering of ``logits`` ``(B, V)``."""
    logits = logits.float()
    if config.temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.size(-1)).float()
    logits = logits / config.temperature
    if config.top_k is not None and config.top_k < logits.size(-1):
        kth = torch.topk(logits, config.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if config.top_p is not None and config.top_p < 1:
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the tokens ranked above
        sorted_probs = sorted_probs.masked_fill(before >= config.top_p, 0.0)  # the top token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return probs


@torch.no_grad()
def generate_ids(
    model: GPT, prompt: list[int], config: SamplingConfig, eot_id: int | None = None
) -> Iterator[int]:
    """Yield up to ``config.max_tokens`` sampled token ids continuing ``prompt``.

    Uses a KV cache; when the context is full, the cache is rebuilt from the last half of it.
    A prompt longer than the context keeps its last tokens.
    """
    if not prompt:
        raise ValueError(
            "the prompt must hold at least one token (use <|endoftext|> to sample unconditionally)"
        )
    model.eval()
    block = model.config.block_size
    device = model.transformer.wte.weight.device
    generator = torch.Generator(device=device)
    if config.seed is not None:
        generator.manual_seed(config.seed)
    else:
        generator.seed()
    cache = model.new_cache(batch_size=1)
    context = list(prompt[-(block - 1) :]) if block > 1 else list(prompt[-1:])
    pending = list(context)  # tokens not yet in the cache
    for _ in range(config.max_tokens):
        if cache.length + len(pending) > block:  # context full: keep the last half
            cache.reset()
            pending = context[-(block // 2) :]
        logits = model(torch.tensor([pending], dtype=torch.long, device=device), cache=cache)[:, -1]
        probs = next_token_distribution(logits, config)
        token = int(torch.multinomial(probs, 1, generator=generator).item())
        if config.stop_at_eot and token == eot_id:
            return
        yield token
        context.append(token)
        pending = [token]


def generate_text(model: GPT, tokenizer: Any, prompt: str, config: SamplingConfig) -> Iterator[str]:
    """Yield the continuation of ``prompt`` as text pieces, as soon as their bytes form whole
    UTF-8 characters. An empty prompt samples unconditionally (from ``<|endoftext|>``)."""
    ids = tokenizer.encode(prompt) if prompt else [tokenizer.eot_id]
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for token in generate_ids(model, ids, config, eot_id=tokenizer.eot_id):
        if piece := utf8.decode(tokenizer.decode_bytes([token])):
            yield piece
    if rest := utf8.decode(b"", final=True):
        yield rest
