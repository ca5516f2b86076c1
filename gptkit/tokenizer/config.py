"""Configuration of ``gptkit tokenizer train`` (recipe table ``[tokenizer]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gptkit.tokenizer.tokenizer import EOT


@dataclass
class TrainTokenizerConfig:
    """Byte-level BPE training: what to read, how many merges, where to write."""

    inputs: list[Path] = field(default_factory=list)  # shards (.jsonl.zst), JSONL, text files or directories
    out: Path | None = None  # output directory
    merges: int = 40_000  # merges to learn: vocabulary = 256 bytes + merges + specials (GPT-1: 40k, GPT-2: 50k)
    min_frequency: int = 2  # a pair seen fewer times is never merged
    specials: list[str] = field(default_factory=lambda: [EOT])  # special tokens, after the merges (EOT first)
    threads: int | None = None  # HF tokenizers threads (default: all cores)
    held_out: float = 0.01  # fraction of documents kept out of training to measure bytes per token
    text_key: str = "text"  # JSON field holding the text

    def __post_init__(self) -> None:
        if self.merges < 1:
            raise ValueError(f"merges must be at least 1, got {self.merges}")
        if self.min_frequency < 0:
            raise ValueError(f"min_frequency must be >= 0, got {self.min_frequency}")
        if not 0 <= self.held_out < 0.5:
            raise ValueError(f"held_out must be in [0, 0.5), got {self.held_out}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if EOT not in self.specials:
            self.specials = [EOT, *self.specials]
        if len(set(self.specials)) != len(self.specials) or not all(self.specials):
            raise ValueError(f"specials must be distinct, non-empty strings: {self.specials}")
