"""Typed configuration of ``gptkit scale sweep`` (the ``[scale]`` table of a recipe).

A sweep is a grid: model shapes × token budgets. A budget is either a number of tokens per
parameter (Chinchilla's compute-optimal ~20: one run per shape) or a list of FLOP budgets (every
shape at every budget: IsoFLOP curves). Every run is an ordinary ``gptkit train`` run whose
settings come from ``[scale.train]`` (any key of a ``[train]`` table); the sweep sets its model
shape, its number of steps and its warmup.

``mode = "wsd"`` trains the grid the way Hägele et al. (2024) do: per shape one constant-lr run,
and every run of the grid becomes a cooldown branch forked from it at ``cooldowns`` fractions of
each budget, so one long run gives several scaling points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gptkit.train.config import TrainConfig

DEFAULT_TOKENS_PER_PARAM = 20.0


@dataclass
class ShapeSpec:
    """One model of the grid: a preset with some fields replaced, and optionally its own learning rate."""

    preset: str = "nano"
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    lr: float | None = None  # None: scale.train.optim.lr
    name: str | None = None  # None: "L{n_layer}-d{n_embd}"


@dataclass
class ScaleConfig:
    data: Path | None = None  # token directory from `gptkit data pack`
    out: Path = Path("runs/scale")  # the sweep directory: OUT/runs/<name>/ are the training runs
    shapes: list[ShapeSpec] = field(default_factory=list)
    tokens_per_param: float | None = None  # None: 20, unless flops are given
    flops: list[float] = field(default_factory=list)  # fixed FLOP budgets; every shape trains at each
    mode: Literal["runs", "wsd"] = "runs"  # wsd: cooldown branches forked from one constant-lr run per shape
    cooldowns: list[float] = field(default_factory=lambda: [0.25, 0.5, 1.0])  # wsd: fractions of each budget
    warmup_frac: float = 0.05  # warmup steps as a fraction of each run's steps (wsd: of the shortest branch)
    min_steps: int = 20  # runs shorter than this are left out (and counted): too short to mean anything
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.tokens_per_param is not None and self.flops:
            raise ValueError("give either tokens_per_param or flops, not both")
        if self.tokens_per_param is not None and self.tokens_per_param <= 0:
            raise ValueError(f"tokens_per_param must be > 0, got {self.tokens_per_param}")
        if any(c <= 0 for c in self.flops):
            raise ValueError("flops budgets must be > 0")
        if not self.cooldowns or any(not 0 < f <= 1 for f in self.cooldowns):
            raise ValueError(f"cooldowns must be fractions in (0, 1], got {self.cooldowns}")
        if not 0 <= self.warmup_frac < 1:
            raise ValueError(f"warmup_frac must be in [0, 1), got {self.warmup_frac}")
        if self.min_steps < 1:
            raise ValueError(f"min_steps must be >= 1, got {self.min_steps}")
