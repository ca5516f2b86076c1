"""``gptkit data prefs``: human preferences in → comparison shards out.

A comparison is ``{"id", "group", "source", "prompt": [messages], "completions": [str, ...],
"ranking": [int, ...]}``: the conversation so far (ending with a user turn), K ≥ 2 candidate
assistant replies and each one's rank (0 = best; equal ranks are ties and make no pair). The
reward model learns from every pair of different ranks (InstructGPT's K-wise comparisons).

Recognised records (JSON lines, parquet rows or ``datasets`` rows):

- Anthropic hh-rlhf ``{"chosen", "rejected"}`` transcripts: the shared conversation up to the last
  ``Assistant:`` is the prompt, the two final replies are ranked 0 and 1 (identical pairs and
  pairs whose conversations differ before the last reply are skipped and counted).
- OpenAssistant message trees: every user message with ≥ 2 ranked human-written replies gives a
  K-wise comparison of those replies (the tree is the group, so it never straddles the split).
- Named columns: ``{"prompt", "chosen", "rejected"}`` (TRL's format; the prompt a string or
  messages) or ``{"prompt", "completions", "ranking"}``.

Output: ``train_*.jsonl.zst`` / ``val_*.jsonl.zst`` (held out by the hash of the group, so the
split is deterministic and order-free), ``config.toml`` and ``manifest.json``; a rerun with the
same inputs and config reuses the output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptkit.chat.data import (
    SPLITS,
    SplitItems,
    input_file_records,
    input_paths,
    remove_old_shards,
    write_splits,
)
from gptkit.chat.sources import BadRecord, hh_messages
from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError
from gptkit.io.manifest import Manifest, file_record
from gptkit.io.shards import IssueLog
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, identity

STAGE = "data prefs"
Comparison = dict[str, Any]


@dataclass
class PrefsConfig:
    """The ``[prefs]`` table of a recipe."""

    inputs: list[Path] = field(default_factory=list)
    out: Path | None = None
    val_fraction: float = 0.1  # share of groups held out (the benchmarks hold out half: 0.5)
    seed: int = 1337  # salts the hash that draws the held-out groups
    oasst_synthetic: bool = False  # keep OpenAssistant's model-written replies
    shard_comparisons: int = 100_000

    def __post_init__(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass
class PrefsSummary(StageResult):
    out: Path
    comparisons: dict[str, int]
    sources: dict[str, int]
    skipped: dict[str, int]
    issues: list[str]


def prefs_data(config: PrefsConfig, reporter: Reporter = NULL_REPORTER) -> PrefsSummary:
    """Run (or reuse) the stage; see the module docstring."""
    if config.out is None:
        raise ConfigError("prefs.out is not set: give --out DIR")
    if not config.inputs:
        raise ConfigError("no inputs: give preference files, directories or datasets folders")
    out = Path(config.out)
    files = input_paths(config.inputs)
    records = input_file_records(files)
    check_inputs(files)
    run = StageRun(STAGE, out, identity(to_dict(config)), records)
    if (manifest := run.reuse()) is not None:
        return PrefsSummary(out, {s: manifest["counts"][f"{s}_comparisons"] for s in SPLITS}, manifest["sources"],
                            manifest["issues"]["by_reason"], manifest["issues"]["examples"], reused=True)  # fmt: skip
    run.begin()
    remove_old_shards(out)
    started, issues = time.time(), IssueLog(keep=20)
    kind = SplitItems(STAGE, "comparison", lambda record, rid: record_comparisons(record, rid, config),
                      content=lambda c: [c["prompt"], c["completions"]],
                      size=lambda c: len(ranked_pairs(c["ranking"])))  # fmt: skip
    counts = write_splits(files, out, kind, val_fraction=config.val_fraction, seed=config.seed,
                          shard_items=config.shard_comparisons, issues=issues, reporter=reporter)  # fmt: skip
    dump_toml({"prefs": config}, out / "config.toml")
    run.finish(Manifest(
        stage=STAGE, config=run.identity, inputs=records,
        outputs=[file_record(p, out, comparisons=n) for p, n in counts.written],
        counts={**{f"{s}_comparisons": n for s, n in counts.items.items()}, "skipped": issues.total,
                "pairs": counts.size},
        timings={"seconds": time.time() - started},
        extra={"sources": counts.sources, "issues": issues.to_json()},
    ))  # fmt: skip
    return PrefsSummary(out, counts.items, counts.sources, dict(issues.counts), [str(i) for i in issues.examples])


def record_comparisons(record: dict, where: str, config: PrefsConfig) -> Iterator[Comparison]:
    """The comparisons one input record holds (:class:`BadRecord` when it holds none)."""
    rid = str(record.get("id", where))
    if "message_tree_id" in record and isinstance(record.get("prompt"), dict):
        yield from _oasst(record, config.oasst_synthetic)
    elif "prompt" in record and "completions" in record:
        yield _comparison(rid, "ranked", prompt_messages(record["prompt"]), record["completions"], record.get("ranking"))
    elif "prompt" in record and "chosen" in record:
        yield _comparison(rid, "pairs", prompt_messages(record["prompt"]), [record["chosen"], record.get("rejected")], [0, 1])
    elif isinstance(record.get("chosen"), str) and isinstance(record.get("rejected"), str):
        yield _hh(rid, record["chosen"], record["rejected"])
    else:
        raise BadRecord("unknown record (expected hh-rlhf chosen/rejected, an OpenAssistant tree, "
                        "prompt/chosen/rejected or prompt/completions/ranking)")  # fmt: skip


def ranked_pairs(ranking: list[int]) -> list[tuple[int, int]]:
    """``(winner, loser)`` index pairs of every two completions of different rank."""
    return [(i, j) for i in range(len(ranking)) for j in range(len(ranking)) if ranking[i] < ranking[j]]


def _comparison(cid: str, source: str, prompt: list[dict], completions: Any, ranking: Any,
                group: str | None = None) -> Comparison:  # fmt: skip
    if not isinstance(completions, list) or len(completions) < 2:
        raise BadRecord("fewer than two completions")
    if not all(isinstance(c, str) and c.strip() for c in completions):
        raise BadRecord("empty or non-string completion")
    if not isinstance(ranking, list) or len(ranking) != len(completions) or \
            not all(isinstance(r, int) and not isinstance(r, bool) for r in ranking):  # fmt: skip
        raise BadRecord("ranking is not one integer per completion")
    if not ranked_pairs(ranking):
        raise BadRecord("no pair of different rank (identical or tied completions)")
    if len(set(completions)) < len(completions):
        raise BadRecord("identical completions")
    return {"id": cid, "group": group or cid, "source": source, "prompt": prompt, "completions": completions,
            "ranking": ranking}  # fmt: skip


def prompt_messages(prompt: Any) -> list[dict]:
    """A prompt given as a string (one user turn) or as messages ending with a user turn."""
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if not isinstance(prompt, list) or not prompt or not all(isinstance(m, dict) for m in prompt):
        raise BadRecord("prompt is neither a string nor a list of messages")
    if prompt[-1].get("role") != "user" or not all(isinstance(m.get("content"), str) for m in prompt):
        raise BadRecord("prompt does not end with a user turn")
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def _hh(cid: str, chosen: str, rejected: str) -> Comparison:
    if chosen == rejected:
        raise BadRecord("chosen == rejected")
    a, b = hh_messages(chosen), hh_messages(rejected)
    if not a or a[-1]["role"] != "assistant" or not b or b[-1]["role"] != "assistant":
        raise BadRecord("transcript does not end with an assistant turn")
    if a[:-1] != b[:-1]:
        raise BadRecord("chosen and rejected differ before the last reply")
    return _comparison(cid, "hh-rlhf", prompt_messages(a[:-1]), [a[-1]["content"], b[-1]["content"]], [0, 1])


def _oasst(record: dict, synthetic: bool) -> Iterator[Comparison]:
    tree = str(record["message_tree_id"])
    found = False
    for path, replies in _ranked_siblings(record["prompt"], [], synthetic):
        messages = [{"role": "user" if m["role"] == "prompter" else "assistant", "content": m.get("text")} for m in path]
        try:
            yield _comparison(f"{tree}/{path[-1].get('message_id')}", "openassistant", prompt_messages(messages),
                              [r.get("text") for r in replies], [r["rank"] for r in replies], tree)  # fmt: skip
            found = True
        except BadRecord:
            continue
    if not found:
        raise BadRecord("OpenAssistant tree without two ranked human replies to one message")


def _ranked_siblings(message: dict, path: list[dict], synthetic: bool) -> Iterator[tuple[list[dict], list[dict]]]:
    """``(path to a user message, its ranked usable replies)`` for every user message of a tree."""
    if message.get("deleted") or (message.get("synthetic") and not synthetic):
        return
    path = [*path, message]
    replies = [r for r in message.get("replies") or [] if isinstance(r, dict)]
    ranked = [r for r in replies if isinstance(r.get("rank"), int) and not r.get("deleted")
              and (synthetic or not r.get("synthetic"))]  # fmt: skip
    if message.get("role") == "prompter" and len(ranked) >= 2:
        yield path, sorted(ranked, key=lambda r: r["rank"])
    for reply in replies:
        yield from _ranked_siblings(reply, path, synthetic)
