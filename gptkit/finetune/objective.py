"""GPT-1's fine-tuning as a trainer objective: task loss + λ·LM loss on transformed examples.

The trainer's loop (accumulation, clipping, AdamW, schedule, DDP, bitwise resume, checkpoints,
metrics) runs it like any other objective; this module says what a batch is
(:class:`ExampleBatches`), which head is trained beside the GPT (``heads["classifier"]``), and
what is measured at each evaluation point: every eval split's official metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gptkit.finetune.head import Batch, TaskHead, collate, finetune_loss, predictions, task_outputs
from gptkit.finetune.metrics import score
from gptkit.finetune.tasks import Split, Task
from gptkit.finetune.transforms import Encoded, Transform
from gptkit.tokenizer.tokenizer import Tokenizer
from gptkit.train.objective import DataSpec, Metrics, Objective, Setup, TrainModule

HEAD = "classifier"


class ExampleBatches:
    """Micro-batches of encoded examples, reshuffled every epoch by a generator seeded with
    ``(seed, epoch)``. The epochs form one stream, so every micro-batch is full (the last of
    an epoch continues into the next); process ``rank`` takes its own slice of each step's rows.
    The state is (epoch, position): a resumed run continues with exactly the same batches."""

    def __init__(self, items: Sequence[Encoded], micro_batch: int, rank: int, world_size: int, seed: int,
                 device: torch.device, regression: bool):  # fmt: skip
        self.items, self.micro_batch, self.rank, self.world_size = items, micro_batch, rank, world_size
        self.seed, self.device, self.regression = seed, device, regression
        self.examples_per_epoch = len(items)
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.items))

    def _take(self, n: int) -> list[int]:
        out: list[int] = []
        while len(out) < n:
            if self.position == len(self._order):
                self.epoch, self.position = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            chunk = self._order[self.position : self.position + n - len(out)]
            out.extend(chunk.tolist())
            self.position += len(chunk)
        return out

    def next_batch(self) -> Batch:
        rows = self._take(self.micro_batch * self.world_size)
        mine = rows[self.rank * self.micro_batch : (self.rank + 1) * self.micro_batch]
        return collate([self.items[i] for i in mine], self.regression).to(self.device)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = self._permutation(self.epoch)


class FinetuneObjective(Objective):
    """Fine-tune on ``train`` (a :class:`Split`), score ``evals`` at each evaluation point.

    ``tokenizer`` already holds the task tokens and the model given to the trainer
    (``init_from``) has the matching vocabulary.
    """

    name = "finetune"
    stage = "finetune"

    def __init__(self, task: Task, tokenizer: Tokenizer, train: Split, evals: Sequence[Split], max_len: int,
                 lm_weight: float, clf_dropout: float, eval_batch: int, inputs: Sequence[Path] = ()):  # fmt: skip
        self.task, self.tokenizer, self.train, self.evals = task, tokenizer, train, list(evals)
        self.max_len, self.lm_weight, self.clf_dropout, self.eval_batch = max_len, lm_weight, clf_dropout, eval_batch
        self.inputs = list(inputs)
        self.last_scores: dict[str, dict[str, float]] = {}
        self.truncated = 0

    def data(self) -> DataSpec:
        return DataSpec(self.train.files[0], self.tokenizer.vocab_size, self.tokenizer.hash, self.tokenizer,
                        self.inputs)  # fmt: skip

    def bind(self, setup: Setup) -> None:
        self.setup = setup
        transform = Transform(self.task, self.tokenizer, min(self.max_len, setup.block_size))
        self.encoded_train = [transform(e) for e in self.train.examples]
        self.encoded_evals = {s.name: [transform(e) for e in s.examples] for s in self.evals}
        every = [*self.encoded_train, *(e for items in self.encoded_evals.values() for e in items)]
        self.truncated = sum(e.truncated for e in every)
        if self.truncated:
            setup.reporter.warn(f"{self.truncated} examples were truncated to {transform.max_len} tokens")

    def heads(self) -> dict[str, nn.Module]:
        return {HEAD: TaskHead(self.task, self.setup.model_config.n_embd, self.clf_dropout)}

    def train_source(self) -> ExampleBatches:
        s = self.setup
        return ExampleBatches(self.encoded_train, s.micro_batch, s.rank, s.world_size, s.seed, s.device,
                              self.task.regression)  # fmt: skip

    def val_batches(self) -> list[Batch]:
        """The first micro-batches of the first eval split, this process's share (val_loss)."""
        s = self.setup
        items = next(iter(self.encoded_evals.values()), [])[s.rank :: s.world_size]
        chunks = [items[i : i + s.micro_batch] for i in range(0, len(items), s.micro_batch)][: s.eval_batches]
        return [collate(c, self.task.regression).to(s.device) for c in chunks]

    def loss(self, model: TrainModule, batch: Batch) -> tuple[torch.Tensor, Metrics]:
        return finetune_loss(model.gpt, model.heads[HEAD], batch, self.lm_weight)

    def batch_tokens(self, batch: Batch) -> int:
        return batch.num_tokens

    def runs_output_layer(self) -> bool:
        return self.lm_weight > 0  # λ = 0: the classifier head on one position only

    def evaluate(self, model: TrainModule, step: int) -> dict[str, float]:
        """Each eval split's metrics, logged as ``<split>_<metric>``; kept in ``last_scores``."""
        self.last_scores = {name: self.score(model.gpt, model.heads[HEAD], items, self.evals[i])
                            for i, (name, items) in enumerate(self.encoded_evals.items())}  # fmt: skip
        return {f"{name}_{k}": v for name, scores in self.last_scores.items() for k, v in scores.items() if k != "n"}

    def score(self, gpt: nn.Module, head: nn.Module, items: Sequence[Encoded], split: Split) -> dict[str, float]:
        preds = predict(gpt, head, items, self.eval_batch, self.task.regression, self.setup.device)
        return score(self.task.metric, preds, [e.label for e in items], [e.group for e in split.examples])


@torch.no_grad()
def predict(gpt: nn.Module, head: nn.Module, items: Sequence[Encoded], batch_size: int, regression: bool,
            device: torch.device) -> list:  # fmt: skip
    """Predicted class / option index (or score) of every item, in order."""
    out: list = []
    for i in range(0, len(items), batch_size):
        batch = collate(items[i : i + batch_size], regression).to(device)
        outputs, _ = task_outputs(gpt, head, batch)
        out.extend(predictions(outputs, regression))
    return out
