"""Typed configuration of ``gptkit data pack`` (the ``[pack]`` table of a recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_VAL_FRACTION = 0.005


@dataclass
class PackConfig:
    """Inputs, tokenizer and output of a pack, and how documents are split and sharded.

    ``val_docs`` (an exact number of held-out documents) wins over ``val_fraction``; with
    neither, ``val_fraction`` is 0.005. Either way at least one document is held out when the
    fraction or count is above zero and there are two documents or more.
    """

    inputs: list[Path] = field(default_factory=list)  # document shards, directories or globs
    out: Path | None = None
    tokenizer: Path | None = None  # a tokenizer dir (gptkit, HF or OpenAI GPT-2 files)
    workers: int | None = None  # encoding processes; None = all cores. Never changes the output.
    shard_tokens: int = 100_000_000  # a shard is closed after the document that reaches this size
    val_fraction: float | None = None
    val_docs: int | None = None
    seed: int = 1337  # draws the validation documents
    text_key: str = "text"  # JSON field holding a document's text
    chunk_bytes: int = 1 << 20  # text sent to a worker at once

    def __post_init__(self) -> None:
        if self.shard_tokens < 1 or self.shard_tokens >= 2**31:
            raise ValueError(f"shard_tokens must be in 1..{2**31 - 1}, got {self.shard_tokens}")
        if self.val_fraction is not None and not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.val_docs is not None and self.val_docs < 0:
            raise ValueError(f"val_docs must be >= 0, got {self.val_docs}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {self.chunk_bytes}")

    def identity(self) -> dict:
        """The settings that decide the output bytes (not paths or the number of workers)."""
        return {
            "shard_tokens": self.shard_tokens,
            "val_fraction": self.val_fraction,
            "val_docs": self.val_docs,
            "seed": self.seed,
            "text_key": self.text_key,
        }
