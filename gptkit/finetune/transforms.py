"""GPT-1's input transforms (Radford et al., 2018, section 3.3 and Figure 1).

Every example becomes one or more token sequences that start with ``<|ft_start|>``, separate
their parts with ``<|ft_delim|>`` and end with ``<|ft_extract|>``, whose final hidden state the
head reads:

- classification: ``start text extract``
- entailment: ``start premise delim hypothesis extract``
- similarity: both orders, ``start a delim b extract`` and ``start b delim a extract``
- multiple choice: ``start context delim option_k extract`` for each option

Truncation rule: when a sequence is longer than ``max_len``, tokens are taken from its longest
part until it fits (the parts shrink to a common cap, as HF's ``longest_first``): the context
of a multiple-choice question loses its *start* (so the question just before the answer stays),
every other part loses its *end*. The three special tokens are always kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from gptkit.errors import ConfigError
from gptkit.finetune.tasks import Example, Task
from gptkit.model.gpt import GPT
from gptkit.tokenizer.tokenizer import Tokenizer

START, DELIM, EXTRACT = "<|ft_start|>", "<|ft_delim|>", "<|ft_extract|>"
SPECIALS = (START, DELIM, EXTRACT)


@dataclass(frozen=True)
class Encoded:
    """Token sequences of one example (1, 2 for similarity, or one per option), its label,
    and whether truncation shortened any sequence."""

    sequences: tuple[tuple[int, ...], ...]
    label: int | float | None
    truncated: bool


def add_task_tokens(tokenizer: Tokenizer) -> Tokenizer:
    """``tokenizer`` with the start, delimiter and extract tokens appended as special tokens
    (ids ``vocab_size``, ``+1``, ``+2``); unchanged when it already has them."""
    missing = [s for s in SPECIALS if s not in tokenizer.specials]
    if not missing:
        return tokenizer
    specials = dict(tokenizer.specials)
    for i, name in enumerate(missing):
        specials[name] = tokenizer.vocab_size + i
    return Tokenizer(tokenizer.ranks, tokenizer.merges, specials, name=tokenizer.name)


def resize_vocab(model: GPT, vocab_size: int, generator: torch.Generator) -> GPT:
    """A copy of ``model`` with ``vocab_size`` ids; rows of new ids are drawn from N(0, 0.02²),
    the model's own initialisation (as finetune-transformer-lm draws its special tokens)."""
    import dataclasses

    if vocab_size < model.config.vocab_size:
        raise ConfigError(f"cannot shrink the vocabulary from {model.config.vocab_size} to {vocab_size}")
    bigger = GPT(dataclasses.replace(model.config, vocab_size=vocab_size))
    state = model.state_dict()
    old = model.config.vocab_size
    wte = torch.zeros_like(bigger.transformer.wte.weight)
    wte[:old] = state["transformer.wte.weight"][:old]
    wte[old:vocab_size] = torch.randn(vocab_size - old, wte.size(1), generator=generator) * 0.02
    state["transformer.wte.weight"] = state["lm_head.weight"] = wte
    bigger.load_state_dict(state)
    return bigger


class Transform:
    """Turns examples of ``task`` into token sequences for ``tokenizer`` (which must have the
    task tokens, see :func:`add_task_tokens`), each at most ``max_len`` tokens."""

    def __init__(self, task: Task, tokenizer: Tokenizer, max_len: int):
        parts = 1 if task.family == "classification" else 2
        if max_len < len(SPECIALS) + parts:
            raise ConfigError(f"finetune.max_len={max_len} leaves no room for text (at least {len(SPECIALS) + parts})")
        self.task, self.tokenizer, self.max_len = task, tokenizer, max_len
        self.start, self.delim, self.extract = (tokenizer.specials[s] for s in SPECIALS)

    def __call__(self, example: Example) -> Encoded:
        ids = [self.tokenizer.encode(t) for t in example.texts]
        family = self.task.family
        if family == "classification":
            pairs = [(ids[0], None)]
        elif family == "entailment":
            pairs = [(ids[0], ids[1])]
        elif family == "similarity":
            pairs = [(ids[0], ids[1]), (ids[1], ids[0])]
        else:
            pairs = [(ids[0], option) for option in ids[1:]]
        sequences, truncated = [], False
        for first, second in pairs:
            seq, cut = self._sequence(first, second, keep_end=family == "multiple_choice")
            sequences.append(seq)
            truncated |= cut
        return Encoded(tuple(sequences), example.label, truncated)

    def _sequence(self, first: list[int], second: list[int] | None, keep_end: bool) -> tuple[tuple[int, ...], bool]:
        if second is None:
            (first,), cut = fit([first], self.max_len - 2)
            return (self.start, *first, self.extract), cut
        (first_kept, second), cut = fit([first, second], self.max_len - 3)
        if keep_end and len(first_kept) < len(first):
            first_kept = first[len(first) - len(first_kept) :]
        return (self.start, *first_kept, self.delim, *second, self.extract), cut


def fit(parts: Sequence[list[int]], budget: int) -> tuple[list[list[int]], bool]:
    """``parts`` cut (at their ends) to the largest common cap that makes them fit ``budget``
    tokens together: the longest part loses tokens first. Returns (parts, whether any was cut)."""
    if sum(map(len, parts)) <= budget:
        return list(parts), False
    lengths = sorted(map(len, parts))
    cap, used = 0, 0
    for i, n in enumerate(lengths):  # raise the cap part by part while the rest still fit
        remaining = len(lengths) - i
        if used + n * remaining > budget:
            cap = (budget - used) // remaining
            break
        used += n
    kept = [p[:cap] for p in parts]
    spare = budget - sum(map(len, kept))
    for i, p in enumerate(parts):  # hand tokens the integer cap left over to the longest parts
        if spare and len(p) > cap:
            kept[i] = p[: cap + 1]
            spare -= 1
    return kept, True
