"""GPT-1 and GPT-2 decoder-only language models.

One small module in the spirit of nanoGPT's ``model.py``:

- ``arch="gpt2"``: pre-LayerNorm blocks, a final LayerNorm, residual projections initialised
  with std ``0.02 / sqrt(2 * n_layer)`` (Radford et al., 2019).
- ``arch="gpt1"``: post-LayerNorm blocks, no final LayerNorm (Radford et al., 2018).

Both use learned position embeddings, GELU (tanh approximation, HF's ``gelu_new``), input and
output embeddings tied, and ``scaled_dot_product_attention`` (flash attention on GPU). The
embedding table is padded to a multiple of 64 rows for faster matmuls; logits are returned over
the real vocabulary only. Optional extras: masking at document boundaries (``doc_ids``) and a
KV cache for generation (``new_cache``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
from torch.nn import functional as F

from gptkit.errors import ConfigError
from gptkit.model.loss import chunked_lm_loss

#: The embedding table has a multiple of this many rows (extra rows are never predicted).
VOCAB_MULTIPLE = 64


@dataclass
class GPTConfig:
    """Shape and regularisation of a GPT model (saved as ``model_config.json``)."""

    arch: Literal["gpt2", "gpt1"] = "gpt2"
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    block_size: int = 1024  # longest context (number of learned positions)
    vocab_size: int = 50257  # real vocabulary size; the embedding is padded to a multiple of 64
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms (GPT-2 has them)
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.arch not in ("gpt2", "gpt1"):
            raise ValueError(f"arch must be 'gpt2' or 'gpt1', got {self.arch!r}")

    @property
    def padded_vocab_size(self) -> int:
        return math.ceil(self.vocab_size / VOCAB_MULTIPLE) * VOCAB_MULTIPLE

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Named model shapes. The vocabulary size comes from the tokenizer (``preset(name, vocab_size=...)``).
PRESETS: dict[str, GPTConfig] = {
    # the papers' models
    "gpt1": GPTConfig(arch="gpt1", n_layer=12, n_head=12, n_embd=768, block_size=512, dropout=0.1),
    "gpt2-small": GPTConfig(n_layer=12, n_head=12, n_embd=768),  # 124M
    "gpt2-medium": GPTConfig(n_layer=24, n_head=16, n_embd=1024),  # 350M
    "gpt2-large": GPTConfig(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": GPTConfig(n_layer=48, n_head=25, n_embd=1600),  # 1558M
    # small shapes that train on a CPU
    "mini": GPTConfig(n_layer=4, n_head=4, n_embd=256, block_size=256),
    "tiny": GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128),
    "nano": GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=64),
}


def preset(name: str, **overrides: Any) -> GPTConfig:
    """The preset ``name`` with some fields replaced, e.g. ``preset("tiny", vocab_size=512)``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model preset {name!r} (known: {', '.join(PRESETS)})")
    try:
        return dataclasses.replace(PRESETS[name], **overrides)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model preset {name!r}: {e}") from None


class KVCache:
    """Keys and values of every layer for ``batch_size`` rows (slots) of up to ``max_len`` tokens.

    Each row has its own length (``lengths``, on the CPU): ``model.hidden(idx, cache=cache)``
    appends ``idx``'s keys and values to each row and continues that row's positions, so rows
    holding prompts of different lengths decode side by side without padding.
    """

    def __init__(
        self, config: GPTConfig, batch_size: int, max_len: int, dtype: torch.dtype, device: torch.device
    ):
        shape = (batch_size, config.n_head, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(config.n_layer)]
        self.max_len = max_len
        self.lengths = torch.zeros(batch_size, dtype=torch.long)

    @property
    def batch_size(self) -> int:
        return len(self.lengths)

    def reset(self, rows: list[int] | None = None) -> None:
        """Empty ``rows`` (default: all) so that new sequences can start there."""
        self.lengths[rows if rows is not None else slice(None)] = 0

    def share(self, donors: list[int], rows: list[int], lengths: list[int]) -> None:
        """Let each of ``rows`` hold the first ``lengths[i]`` tokens of ``donors[i]`` (the same
        tokens at the same positions, so the same keys and values): copied, not recomputed."""
        device = self.keys[0].device
        src, dst = torch.tensor(donors, device=device), torch.tensor(rows, device=device)
        span = max(lengths)
        for buffer in (*self.keys, *self.values):
            buffer[dst, :, :span] = buffer[src, :, :span]
        self.lengths[torch.tensor(rows)] = torch.tensor(lengths)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows`` (in that order): later calls see a smaller batch and do less work."""
        index = torch.tensor(rows, dtype=torch.long)
        on_device = index.to(self.keys[0].device)
        self.keys = [k[on_device] for k in self.keys]
        self.values = [v[on_device] for v in self.values]
        self.lengths = self.lengths[index]


class _CacheUpdate:
    """One ``hidden`` call's appends to a :class:`KVCache`, the same in every layer: where the
    new keys and values go and which cached keys the new queries attend to."""

    def __init__(self, cache: KVCache, rows: torch.Tensor | None, lengths: torch.Tensor, width: int):
        self.cache = cache
        self.rows = rows
        starts = cache.lengths if rows is None else cache.lengths[rows]
        if int((starts + lengths).max()) > cache.max_len:
            raise ValueError(f"KV cache rows hold {cache.max_len} tokens; cannot append {width} more")
        self.starts = starts
        self.fresh = not bool(starts.any())  # every row starts empty: attend to the new keys only
        self.span = int((starts + lengths).max())  # keys past the last real token serve only padding
        device = cache.keys[0].device
        n_head, max_len = cache.keys[0].shape[1:3]
        # where each new key (or value) vector goes in the cache seen as (rows * heads * max_len,
        # head_dim): for every real token (not right padding), in the order of idx's rows, times, heads
        t = torch.arange(width)
        slots = torch.arange(len(lengths)) if rows is None else rows
        positions = (starts[:, None] + t)[:, :, None]
        flat = (slots[:, None, None] * n_head + torch.arange(n_head)) * max_len + positions
        real = t < lengths[:, None]
        self.real = None if bool(real.all()) else real.to(device)
        self.flat = (flat if self.real is None else flat[real]).reshape(-1).to(device)
        self.new_lengths = starts + lengths

    def __call__(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store layer ``layer``'s new keys/values ``(B, nh, T, hd)``; the keys/values to attend to."""
        out = []
        for buffer, new in ((self.cache.keys[layer], k), (self.cache.values[layer], v)):
            vectors = new.transpose(1, 2)  # (B, T, nh, hd)
            if self.real is not None:
                vectors = vectors[self.real]
            head_dim = buffer.size(-1)
            buffer.view(-1, head_dim).index_copy_(0, self.flat, vectors.reshape(-1, head_dim))
            if self.fresh:
                out.append(new)
            else:
                held = buffer[:, :, : self.span]
                out.append(held if self.rows is None else held[self.rows.to(buffer.device)])
        return out[0], out[1]

    def mask(self, width: int) -> torch.Tensor | None:
        """Which cached keys each query sees ``(B, 1, T, span)``; None when causal attention does."""
        if self.fresh or (width == 1 and bool((self.starts == self.starts[0]).all())):
            return None
        device = self.cache.keys[0].device
        key = torch.arange(self.span, device=device)
        query_pos = self.starts.to(device)[:, None] + torch.arange(width, device=device)
        return (key[None, None, :] <= query_pos[:, :, None])[:, None]

    def commit(self) -> None:
        self.cache.lengths[self.rows if self.rows is not None else slice(None)] = self.new_lengths


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v together
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        kv: Callable | None = None,
        query: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``mask``: boolean (True = attend), or None for plain causal attention.
        ``kv``: this layer's KV-cache update: stores the new keys/values, returns those to attend to.
        ``query`` ``(B,)``: only that position of each row attends (output ``(B, 1, C)``)."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (
            t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)
        )  # (B, nh, T, hd)
        if kv is not None:
            k, v = kv(k, v)
        if query is not None:  # without a mask, the queries are the last T of the keys
            rows = torch.arange(B, device=x.device)
            q, T, first = q[rows, :, query][:, :, None], 1, k.size(2) - T
            visible = torch.arange(k.size(2), device=x.device)[None, :] <= query[:, None] + first
            mask = (visible if mask is None else mask[rows, 0, query])[:, None, None, :]
        # Without a mask, queries at the end of the keys (a cached decoding step) see every key.
        is_causal = mask is None and k.size(2) == T
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A transformer block: LayerNorm before (GPT-2) or after (GPT-1) each residual branch."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.pre_ln = config.arch == "gpt2"
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, mask=None, kv=None, query: torch.Tensor | None = None) -> torch.Tensor:
        """``query`` ``(B,)``: compute only that position of each row (output ``(B, 1, C)``)."""
        residual = x if query is None else x[torch.arange(x.size(0), device=x.device), query][:, None]
        if self.pre_ln:
            x = residual + self.attn(self.ln_1(x), mask, kv, query)
            return x + self.mlp(self.ln_2(x))
        x = self.ln_1(residual + self.attn(x, mask, kv, query))
        return self.ln_2(x + self.mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.padded_vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=(
                    nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
                    if config.arch == "gpt2"
                    else nn.Identity()
                ),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied input and output embeddings
        self.apply(self._init_weights)
        if config.arch == "gpt2":  # GPT-2: scale residual projections by 1/sqrt(number of residual layers)
            for name, p in self.named_parameters():
                if name.endswith("c_proj.weight"):
                    nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; ``non_embedding`` leaves out the position embedding (the token
        embedding stays, as it is also the output layer's weight: nanoGPT's convention)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty KV cache for ``batch_size`` sequences of up to ``max_len`` (default: block_size) tokens."""
        max_len = self.config.block_size if max_len is None else max_len
        if not 0 < max_len <= self.config.block_size:
            raise ValueError(
                f"max_len must be in 1..{self.config.block_size} (the model's context), got {max_len}"
            )
        p = self.transformer.wte.weight
        return KVCache(self.config, batch_size, max_len, p.dtype, p.device)

    def hidden(
        self,
        idx: torch.Tensor,
        *,
        cache: KVCache | None = None,
        rows: list[int] | None = None,
        lengths: list[int] | None = None,
        doc_ids: torch.Tensor | None = None,
        read: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final hidden states ``(B, T, n_embd)`` (after the last LayerNorm) for token ids ``idx``
        ``(B, T)``: what the LM head and every task head (classifier, reward, value) read.

        ``doc_ids`` ``(B, T)``: tokens attend only within their run of equal ids, and positions
        restart at 0 where a run starts (see :func:`doc_ids_from_eot`). ``cache``: each row of
        ``idx`` is appended to its row of a KV cache (``rows``: which cache rows, default all) and
        continues that row's positions (generation). ``lengths``: real tokens per row of ``idx``,
        the rest is right padding (never cached; causal attention keeps real tokens from seeing it).
        ``read`` ``(B,)``: only the hidden state at that position of each row is wanted ``(B, n_embd)``
        (a reward or classifier head, the next token after a prefill): the last block computes
        that position alone (and still caches every position's keys and values).
        """
        B, T = idx.size()
        if cache is not None and doc_ids is not None:
            raise ValueError("doc_ids cannot be combined with a KV cache")
        n_real = torch.full((B,), T) if lengths is None else torch.tensor(lengths, dtype=torch.long)
        update = None
        if cache is not None:
            if (cache.batch_size if rows is None else len(rows)) != B:
                raise ValueError(f"KV cache has {cache.batch_size} rows; cannot append a batch of {B}")
            update = _CacheUpdate(cache, None if rows is None else torch.tensor(rows), n_real, T)
            starts = update.starts
        else:
            starts = torch.zeros(B, dtype=torch.long)
        if int((starts + n_real).max()) > self.config.block_size:
            raise ValueError(
                f"sequence of {int((starts + n_real).max())} tokens exceeds the model's context of "
                f"{self.config.block_size}"
            )
        if doc_ids is not None:
            pos, mask = _document_positions_and_mask(doc_ids)
        else:  # padding may run past the context: its positions are clamped (never used)
            pos = (starts[:, None] + torch.arange(T)).clamp(max=self.config.block_size - 1).to(idx.device)
            mask = None if update is None else update.mask(T)
        n_layer = self.config.n_layer
        layer_kv = iter([None] * n_layer if update is None else [functools.partial(update, i) for i in range(n_layer)])
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        final = self.transformer.h[-1]
        for block in self.transformer.h:
            x = block(x, mask, next(layer_kv), read if block is final else None)
        if update is not None:
            update.commit()
        return self.transformer.ln_f(x if read is None else x[:, 0])

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The LM head over the real vocabulary (the embedding's padding rows are never predicted)."""
        return self.lm_head(hidden)[..., : self.config.vocab_size]

    def lm_loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of the LM head on ``hidden`` ``(..., n_embd)`` against
        ``targets`` (``-1`` = ignore; 0 when all are), without materialising the logits (see
        :func:`gptkit.model.loss.chunked_lm_loss`); under autocast the matmuls run in its dtype.
        Ignored positions skip the output layer (SFT learns only the assistant's tokens)."""
        weight = self.lm_head.weight[: self.config.vocab_size]
        hidden, targets = hidden.reshape(-1, hidden.size(-1)), targets.reshape(-1)
        learnt = targets != -1
        if not bool(learnt.all()):
            hidden, targets = hidden[learnt], targets[learnt]
        if torch.is_autocast_enabled(hidden.device.type):
            dtype = torch.get_autocast_dtype(hidden.device.type)
            hidden, weight = hidden.to(dtype), weight.to(dtype)
        with torch.autocast(hidden.device.type, enabled=False):
            return chunked_lm_loss(hidden, weight, targets)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        cache: KVCache | None = None,
        doc_ids: torch.Tensor | None = None,
    ):
        """Logits ``(B, T, vocab_size)`` for token ids ``idx`` ``(B, T)`` (see :meth:`hidden`);
        with ``targets`` (``-1`` = ignore) returns ``(None, mean cross-entropy)`` from
        :meth:`lm_loss`, which never materialises the logits."""
        hidden = self.hidden(idx, cache=cache, doc_ids=doc_ids)
        if targets is None:
            return self.logits(hidden)
        return None, self.lm_loss(hidden, targets)


def padded(sequences: Sequence[Sequence[int]], pad_id: int = 0, left: bool = False) -> torch.Tensor:
    """Token ids ``(len(sequences), longest)``, each row padded with ``pad_id`` on the right (or
    the left). Callers mark the pad by lengths, never by its id, which may be a real token."""
    width = max(map(len, sequences))
    idx = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        start = width - len(seq) if left else 0
        idx[row, start : start + len(seq)] = torch.tensor(seq, dtype=torch.long)
    return idx


def doc_ids_from_eot(idx: torch.Tensor, eot_id: int) -> torch.Tensor:
    """Document ids for packed sequences where ``<|endoftext|>`` starts each document.

    The EOT token belongs to the document it opens (so it predicts that document's first
    token, as in unconditional GPT-2 sampling); tokens before the first EOT form document 0.
    """
    return torch.cumsum(idx == eot_id, dim=1)


def _document_positions_and_mask(doc_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions restarting at each run of equal ids, and a block-diagonal causal mask (B, 1, T, T)."""
    B, T = doc_ids.shape
    t = torch.arange(T, device=doc_ids.device).expand(B, T)
    starts_run = torch.ones_like(doc_ids, dtype=torch.bool)
    starts_run[:, 1:] = doc_ids[:, 1:] != doc_ids[:, :-1]
    run = starts_run.cumsum(dim=1)
    run_start = torch.where(starts_run, t, torch.zeros_like(t)).cummax(dim=1).values
    causal = torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    mask = (run[:, :, None] == run[:, None, :]) & causal
    return t - run_start, mask[:, None]
