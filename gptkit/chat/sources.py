"""Demonstrations in the formats they come in, turned into one conversation format.

A conversation is ``{"id", "group", "source", "messages": [{"role", "content"}, ...]}`` with roles
``system`` (optional, first), then ``user`` and ``assistant`` alternating, ending with an
assistant turn (a demonstration). ``group`` ties together conversations that share text (the paths
of one OpenAssistant tree), so a train/validation split never separates them.

Recognised records (one per JSON line, parquet row or ``datasets`` row):

- ``{"messages": [...]}``: already conversations (also ``conversations`` with ``from``/``value``).
- OpenAssistant message trees: ``{"message_tree_id", "prompt": {message with "replies"}}``;
  every root-to-leaf path (``all``) or only the best-ranked reply at each turn (``best``).
- Anthropic hh-rlhf: ``{"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ..."}``.
- Self-instruct / Alpaca: ``{"instruction", "input", "output"}`` or ``{"instruction", "instances":
  [{"input", "output"}]}`` (one conversation per instance).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gptkit.errors import InputError
from gptkit.io.shards import Issue, iter_jsonl

Conversation = dict[str, Any]
ROLES = ("system", "user", "assistant")
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


@dataclass(frozen=True)
class SourceOptions:
    """How the tree-shaped and synthetic parts of the sources are read."""

    oasst_branch: Literal["best", "all"] = "best"
    oasst_synthetic: bool = False  # keep OpenAssistant's model-written messages


class BadRecord(ValueError):
    """A record that yields no conversation; the message is the counted reason."""


def check_messages(messages: Any) -> str | None:
    """Why ``messages`` is not a demonstration (None when it is one)."""
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return "message without a role (system/user/assistant) and a string content"
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    if not turns:
        return "no user turn"
    for i, m in enumerate(turns):
        if m["role"] != ("user" if i % 2 == 0 else "assistant"):
            return "turns do not alternate user/assistant"
    if turns[-1]["role"] != "assistant":
        return "ends without an assistant turn"
    if any(not m["content"].strip() for m in turns if m["role"] == "assistant"):
        return "empty assistant turn"
    return None


def record_conversations(record: dict, where: str, options: SourceOptions) -> Iterator[Conversation]:
    """The conversations one input record holds (:class:`BadRecord` when it holds none)."""
    if "messages" in record or "conversations" in record:
        messages = record.get("messages", record.get("conversations"))
        yield _conversation(str(record.get("id", where)), "messages", _plain_messages(messages))
    elif "message_tree_id" in record and isinstance(record.get("prompt"), dict):
        yield from _oasst(record, options)
    elif isinstance(record.get("chosen"), str):
        yield _conversation(str(record.get("id", where)), "hh-rlhf", hh_messages(record["chosen"]))
    elif isinstance(record.get("instruction"), str):
        yield from _self_instruct(record, where)
    else:
        raise BadRecord("unknown record (expected messages, an OpenAssistant tree, hh-rlhf chosen or instruction)")


def _conversation(conv_id: str, source: str, messages: list[dict], group: str | None = None) -> Conversation:
    if reason := check_messages(messages):
        raise BadRecord(reason)
    return {"id": conv_id, "group": group or conv_id, "source": source, "messages": messages}


def _plain_messages(messages: Any) -> list[dict]:
    """``messages`` as ``{"role","content"}`` dicts (ShareGPT's ``from``/``value`` renamed)."""
    if not isinstance(messages, list):
        raise BadRecord("'messages' is not a list")
    out = []
    for m in messages:
        if isinstance(m, dict) and "from" in m:
            m = {"role": _SHAREGPT_ROLES.get(str(m["from"]).lower(), m["from"]), "content": m.get("value")}
        out.append({"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m)
    return out


def hh_messages(transcript: str) -> list[dict]:
    """An hh-rlhf transcript (``\\n\\nHuman: …\\n\\nAssistant: …``) as messages."""
    parts = _HH_TURN.split(transcript)
    if parts[0].strip():
        raise BadRecord("text before the first '\\n\\nHuman:'")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [{"role": roles[parts[i]], "content": parts[i + 1]} for i in range(1, len(parts), 2)]


def _self_instruct(record: dict, where: str) -> Iterator[Conversation]:
    instances = record.get("instances")
    if instances is None:
        instances = [{"input": record.get("input", ""), "output": record.get("output")}]
    if not isinstance(instances, list) or not instances:
        raise BadRecord("'instances' is not a non-empty list")
    base = str(record.get("id", where))
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict) or not isinstance(inst.get("output"), str):
            raise BadRecord("instance without a string 'output'")
        given = inst.get("input") or ""
        prompt = record["instruction"] + (f"\n\n{given}" if given else "")
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": inst["output"]}]
        yield _conversation(base if len(instances) == 1 else f"{base}/{i}", "self-instruct", messages, base)


def _oasst(record: dict, options: SourceOptions) -> Iterator[Conversation]:
    tree = str(record["message_tree_id"])
    if not _usable(record["prompt"], options):
        raise BadRecord("OpenAssistant tree whose prompt is deleted or synthetic")
    seen: set[tuple] = set()
    found = False
    for path in _oasst_paths(record["prompt"], options):
        while path and path[-1]["role"] != "assistant":
            path = path[:-1]
        key = tuple(m.get("message_id") for m in path)
        if not path or key in seen:
            continue
        seen.add(key)
        found = True
        messages = [{"role": "user" if m["role"] == "prompter" else "assistant", "content": m.get("text")}
                    for m in path]  # fmt: skip
        yield _conversation(f"{tree}/{path[-1].get('message_id')}", "openassistant", messages, tree)
    if not found:
        raise BadRecord("OpenAssistant tree without a usable assistant reply")


def _oasst_paths(message: dict, options: SourceOptions) -> Iterator[list[dict]]:
    """Root-to-leaf paths of usable messages (not deleted; human-written unless asked)."""
    replies = [r for r in message.get("replies") or [] if _usable(r, options)]
    if options.oasst_branch == "best" and replies:
        replies = [min(replies, key=_rank_key)]
    if not replies:
        yield [message]
        return
    for reply in replies:
        for tail in _oasst_paths(reply, options):
            yield [message, *tail]


def _usable(message: dict, options: SourceOptions) -> bool:
    return isinstance(message, dict) and not message.get("deleted") and (
        options.oasst_synthetic or not message.get("synthetic"))  # fmt: skip


def _rank_key(message: dict) -> tuple[int, int]:
    """Best first: rank 0, 1, …, then unranked replies."""
    rank = message.get("rank")
    return (0, rank) if isinstance(rank, int) else (1, 0)


# -- files ----------------------------------------------------------------------------------

Record = tuple[str, int | None, dict]  # (file, line or row, record)


def iter_records(path: Path, on_issue: Callable[[Issue], None]) -> Iterator[Record]:
    """Records of one input: JSON lines (optionally compressed), parquet, or a ``datasets`` folder."""
    if path.is_dir():
        yield from _dataset_records(path)
    elif path.name.lower().endswith(".parquet"):
        yield from _parquet_records(path)
    else:
        for line, obj in iter_jsonl(path, on_issue):
            yield str(path), line, obj


def _parquet_records(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a file that is not parquet
        raise InputError(f"not a parquet file: {e}", path) from None
    row = 0
    for batch in reader.iter_batches(batch_size=1024):
        for obj in batch.to_pylist():
            row += 1
            yield str(path), row, obj


def _dataset_records(path: Path) -> Iterator[Record]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as e:
        raise InputError(f"not a datasets folder (save_to_disk): {e}", path) from None
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, ds in splits:
        name = f"{path}[{split}]" if split else str(path)
        for row, obj in enumerate(ds, 1):
            yield name, row, obj


def is_dataset_dir(path: Path) -> bool:
    """A folder written by ``datasets``' ``save_to_disk`` (one dataset or a dict of splits)."""
    return (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
