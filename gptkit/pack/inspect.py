"""``gptkit data inspect``: counts of a token directory, a decoded sample, and its checks.

Checks every shard's header and size (a truncated file is named), its document index, and
with ``full`` also that every id is below the vocabulary size, that every document ends with
``<|endoftext|>``, and that the files' hashes match the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.errors import InputError
from gptkit.io.manifest import MANIFEST, read_manifest, verify
from gptkit.pack.format import read_token_shard
from gptkit.pack.loader import read_meta, shard_paths
from gptkit.pack.pack import SPLITS, TOKENIZER_DIR


@dataclass
class InspectConfig:
    """The ``[inspect]`` table of a recipe (``gptkit data inspect --recipe``)."""

    quick: bool = False  # headers, sizes and indexes only: no hashes, no id scan
    samples: int = 1  # documents to decode and show
    chars: int = 600  # characters shown per sample at most


@dataclass
class SplitStats:
    shards: int = 0
    tokens: int = 0
    documents: int = 0


@dataclass
class InspectReport:
    directory: Path
    meta: dict[str, Any]
    splits: dict[str, SplitStats]
    problems: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # decoded documents
    files_checked: int = 0


def inspect_tokens(directory: str | Path, full: bool = True, samples: int = 1) -> InspectReport:
    """Count and check the token shards of ``directory``; decode its first ``samples`` documents."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("no such directory", directory)
    paths = {split: shard_paths(directory, split) for split in SPLITS}
    if not any(paths.values()):
        raise InputError("no token shards (train_*.bin / val_*.bin) here", directory)
    report = InspectReport(directory, {}, {split: SplitStats() for split in SPLITS})
    opened = []
    for split, split_paths in paths.items():
        for path in split_paths:
            report.files_checked += 1
            try:
                shard = read_token_shard(path)
            except InputError as e:
                report.problems.append(str(e))
                continue
            opened.append(shard)
            stats = report.splits[split]
            stats.shards += 1
            stats.tokens += shard.header.n_tokens
            stats.documents += len(shard.doc_ends) if shard.doc_ends is not None else 0
            if shard.doc_ends is None:
                report.problems.append(f"{path}: no document index ({path.stem}.idx.npy)")
    report.meta = read_meta(directory, opened)
    if full:
        for shard in opened:
            report.problems += _check_ids(shard, report.meta)
    if (directory / MANIFEST).is_file():
        manifest = read_manifest(directory)
        report.problems += [f"{directory / p.path}: {p.reason}" for p in verify(directory, check_hashes=full)]
        listed = {rec["path"] for rec in manifest.get("outputs", [])}
        report.problems += [f"{p}: not in {MANIFEST}" for ps in paths.values() for p in ps if p.name not in listed]
    if samples and opened and opened[0].doc_ends is not None:
        report.samples = _decode_samples(directory, opened[0], samples)
    return report


def _check_ids(shard, meta: dict) -> list[str]:
    problems = []
    vocab, eot = meta.get("vocab_size"), meta.get("eot_id")
    if vocab is not None and shard.header.n_tokens and int(np.max(shard.tokens)) >= vocab:
        problems.append(f"{shard.path}: token id {int(np.max(shard.tokens))} >= vocab_size {vocab}")
    if eot is not None and shard.doc_ends is not None and len(shard.doc_ends):
        bad = int(np.count_nonzero(shard.tokens[shard.doc_ends - 1] != eot))
        if bad:
            problems.append(f"{shard.path}: {bad} document(s) do not end with <|endoftext|> ({eot})")
    return problems


def _decode_samples(directory: Path, shard, n: int) -> list[str]:
    from gptkit.tokenizer import load_tokenizer

    if not (directory / TOKENIZER_DIR).is_dir():
        return []
    tok = load_tokenizer(directory / TOKENIZER_DIR)
    return [tok.decode(doc.tolist()) for doc in shard.documents()[:n]]
