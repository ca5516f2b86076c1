"""Tiny token directories and configs for the training tests (small vocabulary, tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gptkit.pack.format import write_token_shard
from gptkit.train.config import CheckpointSection, ModelSection, OptimSection, ScheduleSection, TrainConfig

VOCAB = 96
EOT = VOCAB - 1


def make_token_dir(path: Path, tokenizer_hash: str = "xxh3_128:test-tokenizer", seed: int = 0,
                   train_docs: int = 200, val_docs: int = 30) -> Path:
    """Train/val shards of learnable 'documents' (runs of consecutive ids), like `gptkit data pack` writes."""
    rng = np.random.default_rng(seed)

    def docs(n: int) -> list[list[int]]:
        out = []
        for _ in range(n):
            length, first = int(rng.integers(20, 80)), int(rng.integers(0, EOT))
            out.append([*((first + np.arange(length)) % EOT).tolist(), EOT])
        return out

    path.mkdir(parents=True, exist_ok=True)
    write_token_shard(path / "train_00000.bin", docs(train_docs), VOCAB, EOT)
    write_token_shard(path / "train_00001.bin", docs(train_docs // 2), VOCAB, EOT)
    write_token_shard(path / "val_00000.bin", docs(val_docs), VOCAB, EOT)
    meta = {"stage": "pack", "vocab_size": VOCAB, "eot_id": EOT, "tokenizer_hash": tokenizer_hash, "dtype": "uint16"}
    (path / "manifest.json").write_text(json.dumps(meta))
    return path


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    """A 2-layer × 32-wide model on 32-token blocks: a step takes milliseconds on one thread."""
    base = dict(
        data=data, out=out, steps=12, block_size=32, micro_batch=4, log_interval=1, eval_interval=4,
        eval_batches=2, threads=1, device="cpu",
        model=ModelSection(preset="nano", n_layer=2, n_head=2, n_embd=32, dropout=0.1),
        optim=OptimSection(lr=3e-3), schedule=ScheduleSection(warmup_steps=3),
        checkpoint=CheckpointSection(interval=3, keep_last=2),
    )  # fmt: skip
    base.update(overrides)
    return TrainConfig(**base)

