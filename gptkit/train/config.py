"""Typed configuration of ``gptkit train`` (the ``[train]`` table of a recipe).

A recipe names a model preset and overrides some of its fields, points at a token directory
from ``gptkit data pack`` and sets the batch, optimizer, schedule, evaluation and checkpoint
policy. Everything has a default that trains a tiny model on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Device = Literal["auto", "cpu", "cuda"]
Dtype = Literal["auto", "fp32", "bf16"]
DistMode = Literal["auto", "none", "ddp", "fsdp"]


@dataclass
class ModelSection:
    """A preset from ``gptkit.model.gpt.PRESETS`` plus field overrides (None = preset's value).

    ``vocab_size`` always comes from the token directory (the tokenizer's size).
    """

    preset: str = "tiny"
    arch: Literal["gpt2", "gpt1"] | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    block_size: int | None = None  # the model's context length
    dropout: float | None = None
    bias: bool | None = None


@dataclass
class OptimSection:
    """AdamW; weight decay applies to ≥2-D weights only (not biases, LayerNorms)."""

    lr: float = 6e-4
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 disables clipping (the norm is still logged)
    fused: bool | None = None  # None: fused kernels on CUDA and CPU, the default implementation elsewhere

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.grad_clip < 0:
            raise ValueError(f"optim.grad_clip must be >= 0, got {self.grad_clip}")


@dataclass
class ScheduleSection:
    """Learning rate as a pure function of the step.

    ``cosine``: linear warmup to ``optim.lr``, cosine decay to ``min_lr_ratio·lr`` at the last step.
    ``wsd`` (warmup-stable-decay, Hägele et al. 2024): warmup, stable at ``lr``, then decay to
    ``min_lr_ratio·lr`` over the last ``decay_frac`` of the steps, ``linear`` or ``1-sqrt`` in shape.
    Before its decay a wsd run follows the same lr as a ``constant`` one, so a cooldown can be forked
    from a constant run's checkpoint (``train.fork_from``). ``constant``: warmup then ``lr``.
    """

    kind: Literal["cosine", "wsd", "constant"] = "cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    decay_frac: float = 0.2  # wsd only
    decay_shape: Literal["linear", "1-sqrt"] = "linear"  # wsd only

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"schedule.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"schedule.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 < self.decay_frac <= 1:
            raise ValueError(f"schedule.decay_frac must be in (0, 1], got {self.decay_frac}")


@dataclass
class CheckpointSection:
    interval: int = 500  # save every N steps (and at the end); 0 = only at the end
    keep_last: int = 2  # older checkpoints are deleted, except the best-val one
    keep_best: bool = True  # also save (and keep) the checkpoint with the lowest validation loss
    at_steps: list[int] = field(default_factory=list)  # also save at these steps and keep them (fork points)

    def __post_init__(self) -> None:
        if self.interval < 0 or self.keep_last < 1:
            raise ValueError("checkpoint.interval must be >= 0 and checkpoint.keep_last >= 1")
        if any(s < 1 for s in self.at_steps):
            raise ValueError("checkpoint.at_steps must be >= 1")


@dataclass
class SampleSection:
    """Text generated from fixed prompts at every evaluation (written to samples.jsonl)."""

    prompts: list[str] = field(default_factory=lambda: ["The", "Once upon a time"])
    max_tokens: int = 32
    temperature: float = 0.8
    top_k: int | None = 50


@dataclass
class TrainConfig:
    data: Path | None = None  # token directory from `gptkit data pack`
    out: Path = Path("runs/train")  # run directory (checkpoints, metrics, plots)
    model: ModelSection = field(default_factory=ModelSection)
    init_from: Path | None = None  # start from these weights (gptkit model/checkpoint/run or HF GPT-2 dir)
    fork_from: Path | None = None  # continue another run's checkpoint dir: weights, optimizer, data, step

    block_size: int | None = None  # training sequence length; None = the model's context
    micro_batch: int = 8  # sequences per forward/backward on each process
    batch_tokens: int | None = None  # tokens per optimizer step (all processes); None = one micro-batch
    batch_size: int | None = None  # or: rows (sequences, examples) per optimizer step, all processes
    steps: int = 1000  # optimizer steps of the whole run (the schedule spans them)
    epochs: float | None = None  # if set, replaces steps: that many passes over the objective's training data
    stop_after: int | None = None  # end this invocation after this step (checkpointed; rerun resumes)
    sampler: Literal["epoch", "random"] = "epoch"  # epoch: each window once per epoch; random: nanoGPT's
    doc_mask: bool = False  # attend only within documents (positions restart after <|endoftext|>)

    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)

    eval_interval: int = 100  # validation loss (+ samples) every N steps and at the end; 0 = never
    eval_batches: int = 8  # fixed validation micro-batches per evaluation (per process)
    samples: SampleSection = field(default_factory=SampleSection)
    log_interval: int = 10  # metrics.jsonl line + progress update every N steps
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    resume: bool = True  # continue from the run directory's latest checkpoint if there is one

    device: Device = "auto"
    dtype: Dtype = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    threads: int | None = None  # CPU threads per process (torch.set_num_threads); None = torch's default
    seed: int = 1337
    distributed: DistMode = "auto"  # auto: DDP when launched by torchrun with >1 process

    def __post_init__(self) -> None:
        positive = {"micro_batch": self.micro_batch, "steps": self.steps, "eval_batches": self.eval_batches,
                    "log_interval": self.log_interval}  # fmt: skip
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.block_size is not None and self.block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.eval_interval < 0:
            raise ValueError(f"eval_interval must be >= 0, got {self.eval_interval}")
        if self.init_from is not None and self.fork_from is not None:
            raise ValueError("give init_from (weights only) or fork_from (a whole checkpoint), not both")
