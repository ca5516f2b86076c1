"""Typed configuration of ``gptkit finetune`` (the ``[finetune]`` table of a recipe).

The defaults are GPT-1's (Radford et al., 2018, section 4.1): lr 6.25e-5, batch 32, 3 epochs,
linear warmup over 0.2% of training then linear decay to 0, classifier dropout 0.1, auxiliary LM
weight λ = 0.5, weight decay 0.01 on matrices, gradient clipping at 1, sequences of at most 512
tokens. ``[finetune.train]`` is the trainer's own table (device, threads, checkpoints, …);
``finetune.epochs`` and ``finetune.warmup`` set its ``steps`` and ``schedule.warmup_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gptkit.train.config import CheckpointSection, OptimSection, SampleSection, ScheduleSection, TrainConfig


def paper_train_config() -> TrainConfig:
    """The trainer settings of GPT-1's fine-tuning (``--set finetune.train.KEY=VALUE`` changes them)."""
    return TrainConfig(
        batch_size=32, micro_batch=8, log_interval=10, eval_batches=4, eval_interval=0,  # 0: once per epoch
        # fused AdamW on CPU too: ~10x faster steps over a 50k-row embedding (transformers' Trainer default)
        optim=OptimSection(lr=6.25e-5, weight_decay=0.01, beta1=0.9, beta2=0.999, grad_clip=1.0, fused=True),
        schedule=ScheduleSection(kind="wsd", decay_frac=1.0, min_lr_ratio=0.0, warmup_steps=0),
        checkpoint=CheckpointSection(interval=0, keep_last=1, keep_best=False),
        samples=SampleSection(prompts=[]),
    )  # fmt: skip


@dataclass
class FinetuneConfig:
    model: Path | None = None  # a gptkit model/run directory or an imported transformers GPT-1/GPT-2 directory
    task: str | None = None  # see gptkit.finetune.tasks.TASKS
    data: Path | None = None  # the task's data directory (see docs/finetune.md for the layouts)
    out: Path = Path("runs/finetune")

    epochs: float = 3.0
    warmup: float = 0.002  # fraction of the steps with a linear warmup
    max_len: int = 512  # longest sequence (capped at the model's context); see the truncation rule
    lm_weight: float = 0.5  # λ of the auxiliary language-modelling loss; 0 turns it off
    clf_dropout: float = 0.1  # dropout before the head
    train_split: str | None = None  # None: the task's ("train")
    eval_splits: list[str] | None = None  # None: the task's (e.g. dev, or dev_matched + dev_mismatched)
    eval_batch: int = 32  # examples per forward pass when scoring the eval splits
    train_examples: int | None = None  # at most this many training examples, a subset drawn with seed (None: all)
    from_scratch: bool = False  # MODEL's shape and tokenizer, freshly initialised (GPT-1 Table 5's ablation)
    seed: int = 1337  # new token rows and the head's initialisation
    train: TrainConfig = field(default_factory=paper_train_config)

    def __post_init__(self) -> None:
        if self.epochs <= 0 or not 0 <= self.warmup < 1:
            raise ValueError(f"epochs must be > 0 and warmup in [0, 1), got {self.epochs} and {self.warmup}")
        if self.train_examples is not None and self.train_examples < 1:
            raise ValueError(f"train_examples must be >= 1, got {self.train_examples}")
        if self.max_len < 4 or self.eval_batch < 1:
            raise ValueError(f"max_len must be >= 4 and eval_batch >= 1, got {self.max_len} and {self.eval_batch}")
        if self.lm_weight < 0 or not 0 <= self.clf_dropout < 1:
            raise ValueError(f"lm_weight must be >= 0 and clf_dropout in [0, 1), got {self.lm_weight}, {self.clf_dropout}")
