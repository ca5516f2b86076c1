"""The task head and the fine-tuning loss: a linear layer on the extract token's hidden state.

The extract token's position is computed from each sequence's length (right padding, causal
attention: padding never changes the states before it), never found by looking for a pad id,
which is how ``GPT2ForSequenceClassification`` pools the wrong token when pad = eos.

- classification / entailment: ``linear(dropout(h))`` over the classes;
- similarity: the two orders' states are added first (STS-B: one output, a regression);
- multiple choice: one score per option, one softmax over the options.

Loss = task loss + ``lm_weight`` × the language-modelling loss on the same sequences (GPT-1's
auxiliary objective, λ = 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F

from gptkit.finetune.tasks import Task
from gptkit.finetune.transforms import Encoded
from gptkit.model.gpt import GPT, padded


@dataclass
class Batch:
    """Examples as padded sequences: ``tokens`` ``(B·S, T)`` with ``S`` sequences per example
    (1, 2 for similarity, k options), their ``lengths`` ``(B·S,)`` and ``labels`` ``(B,)``."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor | None
    per_example: int

    def to(self, device: torch.device) -> Batch:
        labels = None if self.labels is None else self.labels.to(device)
        return Batch(self.tokens.to(device), self.lengths.to(device), labels, self.per_example)

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())


def collate(items: Sequence[Encoded], regression: bool = False) -> Batch:
    """Right-pad every sequence of ``items`` to the longest; the pad id (0) is never read."""
    per_example = len(items[0].sequences)
    if any(len(e.sequences) != per_example for e in items):
        raise ValueError("every example of a batch needs the same number of sequences (options)")
    sequences = [s for e in items for s in e.sequences]
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    tokens = padded(sequences)
    labels = None
    if all(e.label is not None for e in items):
        labels = torch.tensor([e.label for e in items], dtype=torch.float32 if regression else torch.long)
    return Batch(tokens, lengths, labels, per_example)


class TaskHead(nn.Module):
    """Dropout and a linear layer on the extract token's final hidden state."""

    def __init__(self, task: Task, n_embd: int, dropout: float):
        super().__init__()
        self.family = task.family
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(n_embd, task.num_outputs)
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, extract: torch.Tensor) -> torch.Tensor:
        """``extract`` ``(B, S, C)`` → class logits ``(B, classes)``, option logits ``(B, S)``, or
        regression scores ``(B,)`` (one output, similarity)."""
        if self.family == "multiple_choice":
            return self.linear(self.dropout(extract)).squeeze(-1)
        pooled = extract.sum(dim=1) if self.family == "similarity" else extract[:, 0]
        out = self.linear(self.dropout(pooled))
        return out.squeeze(-1) if out.size(-1) == 1 else out


def task_outputs(gpt: GPT, head: TaskHead, batch: Batch, keep_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the head's outputs, the final hidden states ``(B·S, T, C)`` when ``keep_hidden``) of
    ``batch``. Without them the model computes the last block at the extract positions only."""
    extract_at = batch.lengths - 1
    if keep_hidden:
        hidden = gpt.hidden(batch.tokens)
        extract = hidden[torch.arange(hidden.size(0), device=hidden.device), extract_at]
    else:
        hidden, extract = None, gpt.hidden(batch.tokens, read=extract_at)
    return head(extract.view(-1, batch.per_example, extract.size(-1))), hidden


def task_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over classes or options; mean squared error for a regression."""
    if labels.is_floating_point():
        return F.mse_loss(outputs.float(), labels)
    return F.cross_entropy(outputs.float(), labels)


def lm_loss(gpt: GPT, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean next-token cross-entropy inside each sequence (start → … → extract), padding excluded:
    :meth:`GPT.lm_loss` skips the output layer at padded positions and never materialises the
    logits (the 50k-wide output layer is most of a small model's fine-tuning step)."""
    targets = batch.tokens[:, 1:].clone()
    positions = torch.arange(targets.size(1), device=targets.device)
    targets[positions[None, :] >= (batch.lengths[:, None] - 1)] = -1
    return gpt.lm_loss(hidden[:, :-1], targets)


def finetune_loss(gpt: GPT, head: TaskHead, batch: Batch, lm_weight: float) -> tuple[torch.Tensor, dict]:
    """GPT-1's objective ``L3 = L2 + λ·L1`` and its parts (detached, for the metrics log)."""
    outputs, hidden = task_outputs(gpt, head, batch, keep_hidden=lm_weight != 0)
    task = task_loss(outputs, batch.labels)
    parts = {"task_loss": task.detach()}
    if lm_weight == 0:
        return task, parts
    lm = lm_loss(gpt, hidden, batch)
    parts["lm_loss"] = lm.detach()
    return task + lm_weight * lm, parts


def predictions(outputs: torch.Tensor, regression: bool) -> list:
    """Predicted class/option index per example, or the regression score."""
    return outputs.float().tolist() if regression else outputs.argmax(dim=-1).tolist()
