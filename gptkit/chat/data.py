"""``gptkit data chat``: demonstrations in → conversation shards out.

Writes ``train_00000.jsonl.zst`` … and ``val_00000.jsonl.zst`` … (zstd JSON lines, one conversation
``{"id", "group", "source", "messages"}`` per line, see :mod:`gptkit.chat.sources`), ``config.toml``
and ``manifest.json``. A conversation is held out when the hash of its group falls under
``val_fraction``: the split does not depend on input order, and the paths of one OpenAssistant tree
stay on one side. Records that yield no conversation and exact duplicates are skipped and counted
by reason; the first ones are named (file and line) in the manifest. A rerun with the same inputs
and config reuses the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import xxhash

from gptkit.chat.sources import BadRecord, SourceOptions, is_dataset_dir, iter_records, record_conversations
from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError
from gptkit.io.manifest import Manifest, file_record, input_records, read_manifest
from gptkit.io.shards import COMPRESSION_SUFFIXES, Issue, IssueLog, RotatingShardWriter, expand_inputs
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, identity

STAGE = "data chat"
SPLITS = ("train", "val")
INPUT_SUFFIXES = (
    *(f"{s}{c}" for s in (".jsonl", ".ndjson", ".json") for c in ("", *COMPRESSION_SUFFIXES)), ".parquet",
)  # fmt: skip


@dataclass
class ChatDataConfig:
    """The ``[chat_data]`` table of a recipe."""

    inputs: list[Path] = field(default_factory=list)  # files, directories, globs, datasets folders
    out: Path | None = None
    oasst_branch: Literal["best", "all"] = "best"  # OpenAssistant: best-ranked path, or every path
    oasst_synthetic: bool = False  # keep OpenAssistant's model-written messages
    val_fraction: float = 0.05  # share of conversation groups held out for validation loss
    seed: int = 1337  # salts the hash that draws the held-out groups
    shard_conversations: int = 100_000  # conversations per shard

    def __post_init__(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.shard_conversations < 1:
            raise ValueError(f"shard_conversations must be >= 1, got {self.shard_conversations}")


@dataclass
class ChatDataSummary(StageResult):
    out: Path
    conversations: dict[str, int]
    sources: dict[str, int]
    skipped: dict[str, int]
    issues: list[str]


def chat_data(config: ChatDataConfig, reporter: Reporter = NULL_REPORTER) -> ChatDataSummary:
    """Run (or reuse) the stage; see the module docstring."""
    if config.out is None:
        raise ConfigError("chat_data.out is not set: give --out DIR")
    if not config.inputs:
        raise ConfigError("no inputs: give conversation files, directories or datasets folders")
    out = Path(config.out)
    files = input_paths(config.inputs)
    records = input_file_records(files)
    config_json = to_dict(config)
    check_inputs(files)
    run = StageRun(STAGE, out, identity(config_json), records)
    if run.reuse() is not None:
        return _reused(out)
    run.begin()
    remove_old_shards(out)
    started = time.time()
    issues = IssueLog(keep=20)
    options = SourceOptions(config.oasst_branch, config.oasst_synthetic)
    kind = SplitItems(STAGE, "conversation", lambda record, rid: record_conversations(record, rid, options),
                      content=lambda c: c["messages"], size=lambda c: len(c["messages"]))  # fmt: skip
    counts = write_splits(files, out, kind, val_fraction=config.val_fraction, seed=config.seed,
                          shard_items=config.shard_conversations, issues=issues, reporter=reporter)  # fmt: skip
    dump_toml({"chat_data": config}, out / "config.toml")
    outputs = [file_record(p, out, conversations=n) for p, n in counts.written]
    summary = ChatDataSummary(out, counts.items, counts.sources, dict(issues.counts),
                              [str(i) for i in issues.examples])  # fmt: skip
    run.finish(Manifest(
        stage=STAGE, config=run.identity, inputs=records, outputs=outputs,
        counts={**{f"{s}_conversations": n for s, n in summary.conversations.items()},
                "skipped": issues.total, "turns": counts.size},
        timings={"seconds": time.time() - started},
        extra={"sources": summary.sources, "issues": issues.to_json(), "command_config": config_json},
    ))  # fmt: skip
    return summary


def input_paths(inputs: list[Path]) -> list[Path]:
    """Input files, with ``datasets`` folders kept whole."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        out.extend([p] if p.is_dir() and is_dataset_dir(p) else expand_inputs([p], INPUT_SUFFIXES))
    return out


@dataclass
class SplitItems:
    """How the items of a record are read, told apart and sized (:func:`write_splits`)."""

    stage: str
    name: str  # what an item is called in messages: "conversation", "comparison"
    of_record: Callable[[dict, str], Iterable[dict]]  # (record, default id) → items, or BadRecord
    content: Callable[[dict], Any]  # what makes two items duplicates
    size: Callable[[dict], int]  # summed into SplitCounts.size (turns, pairs)


@dataclass
class SplitCounts:
    items: dict[str, int]  # per split
    sources: dict[str, int]
    size: int
    written: list[tuple[Path, int]]  # (shard, items)


def write_splits(files: list[Path], out: Path, kind: SplitItems, *, val_fraction: float, seed: int,
                 shard_items: int, issues: IssueLog, reporter: Reporter) -> SplitCounts:  # fmt: skip
    """Stream every record of ``files`` into train/val shards of ``kind``'s items, held out by
    the hash of their group; records without items and exact duplicates go to ``issues``."""
    seen: set[bytes] = set()
    counts = SplitCounts(dict.fromkeys(SPLITS, 0), {}, 0, [])
    writers = _split_writers(out, shard_items)
    with reporter.task(kind.stage, total=len(files), unit="files") as bar, writers["train"], writers["val"]:
        for path in files:
            for where, line, record in iter_records(path, issues):
                try:
                    items = list(kind.of_record(record, f"{Path(where).name}/{line}"))
                except BadRecord as e:
                    issues(Issue(where, line, str(e)))
                    continue
                for item in items:
                    key = xxhash.xxh3_128_digest(orjson.dumps(kind.content(item)))
                    if key in seen:
                        issues(Issue(where, line, f"duplicate {kind.name}"))
                        continue
                    seen.add(key)
                    split = split_of(item["group"], val_fraction, seed)
                    writers[split].write(item)
                    counts.items[split] += 1
                    counts.sources[item["source"]] = counts.sources.get(item["source"], 0) + 1
                    counts.size += kind.size(item)
            bar.advance()
            bar.update(**{f"{kind.name}s": f"{sum(counts.items.values()):,}"}, skipped=f"{issues.total:,}")
    counts.written = sorted(w for s in SPLITS for w in writers[s].written)
    return counts


def split_of(group: str, fraction: float, seed: int) -> str:
    """``"val"`` for a deterministic ``fraction`` of groups, else ``"train"``."""
    draw = xxhash.xxh64_intdigest(f"{seed}:{group}".encode()) / 2**64
    return "val" if draw < fraction else "train"


def conversation_files(data_dir: str | Path, split: str) -> list[Path]:
    """The shards of one split of a ``data chat`` output, in order."""
    data_dir = Path(data_dir)
    read_manifest(data_dir)  # a finished stage output, or a one-line error
    return sorted(data_dir.glob(f"{split}_*.jsonl.zst"))


def remove_old_shards(out: Path) -> None:
    """A rerun with other inputs or settings rewrites the output: its old shards go first
    (the stage runner's ``begin`` has already dropped the manifest)."""
    for split in SPLITS:
        for p in out.glob(f"{split}_*.jsonl.zst"):
            p.unlink()


def input_file_records(files: list[Path]) -> list[dict]:
    """Manifest records of the inputs, every file of a ``datasets`` folder included."""
    return input_records(f for p in files for f in ([p] if p.is_file() else sorted(p.rglob("*.*"))))


def _split_writers(out: Path, max_docs: int) -> dict[str, RotatingShardWriter]:
    """One shard writer per split, writing ``train_00000.jsonl.zst``, ``val_00000.jsonl.zst`` …"""
    return {s: RotatingShardWriter(out, max_bytes=1 << 40, max_docs=max_docs,
                                   name=lambda i, s=s: f"{s}_{i:05d}.jsonl.zst") for s in SPLITS}  # fmt: skip


def _reused(out: Path) -> ChatDataSummary:
    manifest = read_manifest(out)
    counts = manifest["counts"]
    issues = manifest.get("issues", {})
    return ChatDataSummary(out, {s: counts[f"{s}_conversations"] for s in SPLITS}, manifest.get("sources", {}),
                           issues.get("by_reason", {}), issues.get("examples", []), reused=True)  # fmt: skip
