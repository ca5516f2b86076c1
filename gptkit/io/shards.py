"""Document shards: zstd-compressed JSON lines, one ``{"id","text","metadata"}`` per line.

The format of datatrove and Dolma. Shards are named ``00000.jsonl.zst``, ``00001.jsonl.zst``…
and load with ``datasets.load_dataset("json", data_files=...)``.

Readers stream and never stop at bad input: a corrupt compressed stream, an invalid JSON line,
a line that is not UTF-8 or a record without ``text`` is reported as an :class:`Issue` (file and
line) and counted, and reading goes on with the next line (or the next file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from gptkit.errors import InputError
from gptkit.io.atomic import atomic_path
from gptkit.io.streams import COMPRESSION_SUFFIXES, DamagedStream, compression_of, iter_chunks
from gptkit.io.tables import PARQUET_SUFFIX, dataset_folder_files, is_table, iter_table_rows

Document = dict[str, Any]

#: Suffixes read as JSON lines (optionally compressed).
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
SHARD_SUFFIX = ".jsonl.zst"


@dataclass(frozen=True)
class Issue:
    """A piece of bad input that was skipped."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


@dataclass
class IssueLog:
    """Collects skipped input: counts per reason and the first ``keep`` issues in full."""

    keep: int = 100
    counts: Counter = field(default_factory=Counter)
    examples: list[Issue] = field(default_factory=list)
    on_issue: Callable[[Issue], None] | None = None

    def __call__(self, issue: Issue) -> None:
        self.counts[issue.reason.split(":")[0]] += 1
        if len(self.examples) < self.keep:
            self.examples.append(issue)
        if self.on_issue is not None:
            self.on_issue(issue)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "by_reason": dict(self.counts), "examples": [str(i) for i in self.examples]}


def _raise(issue: Issue) -> None:
    raise InputError(issue.reason, issue.path, issue.line)


_STREAM_ERRORS = (DamagedStream, OSError)


def damage_reason(e: Exception) -> str:
    detail = str(e) if isinstance(e, DamagedStream) else f"{type(e).__name__}: {e}"
    return f"corrupt or truncated data: {detail}"


def iter_lines(
    path: str | Path, on_issue: Callable[[Issue], None] = _raise, max_line_bytes: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` from a possibly compressed file.

    A decompression error (corrupt or truncated file) is reported once, naming the line where
    the damage starts, and reading of this file stops; every complete line before it has been
    yielded. A line that grows past ``max_line_bytes`` (if given) is reported as too large and
    skipped up to its newline without being held in memory (longer complete lines may be yielded:
    the caller checks their length).
    """
    path = Path(path)
    line_no = 0
    tail = b""
    skipping = False  # inside an overlong line: drop bytes up to the next newline
    try:
        for chunk in iter_chunks(path):
            if skipping:
                newline = chunk.find(b"\n")
                if newline == -1:
                    continue
                chunk, skipping = chunk[newline + 1 :], False
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()
            for line in lines:
                line_no += 1
                yield line_no, line
            if max_line_bytes is not None and len(tail) > max_line_bytes:
                line_no += 1
                on_issue(Issue(str(path), line_no, f"document too large: a line over {max_line_bytes:,} bytes (skipped)"))
                tail, skipping = b"", True
        if tail:
            yield line_no + 1, tail
    except _STREAM_ERRORS as e:
        on_issue(Issue(str(path), line_no + 1, damage_reason(e)))


def iter_jsonl(
    path: str | Path, on_issue: Callable[[Issue], None] = _raise, max_line_bytes: int | None = None
) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each JSON object line; skip and report the rest
    (also lines longer than ``max_line_bytes``, if given, before parsing them)."""
    for line_no, raw in iter_lines(path, on_issue, max_line_bytes):
        if not raw.strip():
            continue
        if max_line_bytes is not None and len(raw) > max_line_bytes:
            on_issue(Issue(str(path), line_no, f"document too large: {len(raw):,} bytes > {max_line_bytes:,}"))
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            reason = "invalid UTF-8" if "utf-8" in str(e).lower() else "invalid JSON"
            on_issue(Issue(str(path), line_no, f"{reason}: {e}"))
            continue
        if not isinstance(obj, dict):
            on_issue(Issue(str(path), line_no, f"not a JSON object: {type(obj).__name__}"))
            continue
        yield line_no, obj


def iter_records(
    path: str | Path, on_issue: Callable[[Issue], None] = _raise, text_key: str = "text",
    max_line_bytes: int | None = None,
) -> Iterator[tuple[int, dict]]:
    """``(line or row number, record)`` of a JSON-lines file or a parquet/Arrow table."""
    if is_table(path):
        return iter_table_rows(path, text_key)
    return iter_jsonl(path, on_issue, max_line_bytes)


def is_record_file(path: str | Path) -> bool:
    """One document per line or row (JSON lines, parquet, a datasets shard), not a text file."""
    return is_jsonl(path) or is_table(path)


def iter_documents(
    path: str | Path, on_issue: Callable[[Issue], None] = _raise, text_key: str = "text",
    max_line_bytes: int | None = None,
) -> Iterator[Document]:
    """Stream documents from one file.

    - JSON lines (``.jsonl``/``.json``/``.ndjson``, optionally ``.zst``/``.gz``/``.xz``/``.bz2``),
      parquet, and ``datasets`` Arrow shards: one document per line or row; ``text`` must be a
      string; a missing ``id`` becomes ``<file>/<line>``; fields other than
      ``id``/``text``/``metadata`` are moved into ``metadata``; lines longer than
      ``max_line_bytes`` (if given) are reported and skipped.
    - Anything else is read as UTF-8 text, the whole file one document.
    """
    path = Path(path)
    if not is_record_file(path):
        yield from _iter_text_file(path, on_issue)
        return
    for line_no, obj in iter_records(path, on_issue, text_key, max_line_bytes):
        text = obj.get(text_key)
        if not isinstance(text, str):
            reason = f"missing '{text_key}'" if text is None else f"'{text_key}' is not a string"
            on_issue(Issue(str(path), line_no, reason))
            continue
        yield normalise_document(obj, text, f"{path.name}/{line_no}", text_key)


def normalise_document(obj: dict, text: str, default_id: str, text_key: str = "text") -> Document:
    meta = obj.get("metadata")
    metadata = dict(meta) if isinstance(meta, dict) else {}
    for k, v in obj.items():
        if k not in ("id", text_key, "metadata"):
            metadata.setdefault(k, v)
    doc_id = obj.get("id")
    return {"id": str(doc_id) if doc_id is not None else default_id, "text": text, "metadata": metadata}


def _iter_text_file(path: Path, on_issue: Callable[[Issue], None]) -> Iterator[Document]:
    try:
        data = b"".join(iter_chunks(path))
    except _STREAM_ERRORS as e:
        on_issue(Issue(str(path), None, damage_reason(e)))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        on_issue(Issue(str(path), data.count(b"\n", 0, e.start) + 1, f"invalid UTF-8: {e}"))
        return
    if text:
        yield {"id": path.name, "text": text, "metadata": {"source": str(path)}}


def is_jsonl(path: str | Path) -> bool:
    name = str(path).lower()
    kind = compression_of(name)
    if kind:
        name = name[: name.rfind(".")]
    return name.endswith(JSONL_SUFFIXES)


def expand_inputs(items: Iterable[str | Path], suffixes: tuple[str, ...] | None = None) -> list[Path]:
    """Files named by ``items`` (files, directories searched recursively, or glob patterns).

    Directories contribute files whose name ends with one of ``suffixes`` (all files if None),
    hidden files and temporaries excluded. The result is sorted per item and deduplicated.
    A name that matches nothing is an :class:`InputError`.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
                and (suffixes is None or f.name.lower().endswith(suffixes))
            )  # fmt: skip
            if not found:
                raise InputError(f"no input files in directory (looked for {', '.join(suffixes or ('*',))})", p)
        elif p.is_file():
            found = [p]
        elif any(ch in str(item) for ch in "*?["):
            found = sorted(f for f in Path().glob(str(item)) if f.is_file())
            if not found:
                raise InputError("pattern matches no file", item)
        else:
            raise InputError("no such file or directory", item)
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                out.append(f)
    return out


#: Document files a directory input contributes. Bare ``.json`` is left out: a stage folder holds
#: manifest.json and stats.json.
DOCUMENT_SUFFIXES = (
    *(f"{s}{c}" for s in (".jsonl", ".ndjson") for c in ("", *COMPRESSION_SUFFIXES)),
    ".json.zst", ".json.gz", ".txt", PARQUET_SUFFIX,
)  # fmt: skip


def document_files(items: Iterable[str | Path]) -> list[Path]:
    """Document inputs: files and globs as given; a ``datasets`` folder gives its Arrow shards; a
    directory gives its top-level document shards (a stage's ``removed/`` is not read) or, when it
    has none, those found below it."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and (arrow := dataset_folder_files(p)) is not None:
            out.extend(arrow)
        elif p.is_dir():
            top = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")
                         and f.name.lower().endswith(DOCUMENT_SUFFIXES))  # fmt: skip
            out.extend(top or expand_inputs([p], DOCUMENT_SUFFIXES))
        else:
            out.extend(expand_inputs([p]))
    seen: set[Path] = set()
    return [f for f in out if not (f.resolve() in seen or seen.add(f.resolve()))]


def shard_name(index: int) -> str:
    return f"{index:05d}{SHARD_SUFFIX}"


class ShardWriter:
    """Write one document shard atomically (``with ShardWriter(path) as w: w.write(doc)``).

    The shard appears under its final name only when the block exits without error.
    """

    def __init__(self, path: str | Path, level: int = 3):
        self.path = Path(path)
        self.level = level
        self.documents = 0
        self.text_bytes = 0
        self._ctx = None
        self._stream = None

    def __enter__(self) -> ShardWriter:
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        self._file = open(tmp, "wb")  # noqa: SIM115 - closed in __exit__
        self._stream = zstandard.ZstdCompressor(level=self.level).stream_writer(self._file, closefd=False)
        return self

    def write(self, doc: Document) -> None:
        line = orjson.dumps(doc) + b"\n"
        self._stream.write(line)
        self.documents += 1
        self.text_bytes += len(line)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._stream.close()
            self._file.close()
        finally:
            self._ctx.__exit__(exc_type, exc, tb)


class RotatingShardWriter:
    """Write documents into ``00000.jsonl.zst``, ``00001.jsonl.zst``… of at most ``max_bytes``
    uncompressed JSON each (and at most ``max_docs`` documents if given)."""

    def __init__(
        self, out_dir: str | Path, max_bytes: int = 256 << 20, max_docs: int | None = None,
        start_index: int = 0, name: Callable[[int], str] = shard_name,
    ):  # fmt: skip
        self.out_dir = Path(out_dir)
        self.max_bytes = max_bytes
        self.max_docs = max_docs
        self.index = start_index
        self.name = name
        self.written: list[tuple[Path, int]] = []  # (path, documents)
        self._current: ShardWriter | None = None

    def __enter__(self) -> RotatingShardWriter:
        return self

    def write(self, doc: Document) -> None:
        cur = self._current
        if cur is not None and (
            cur.text_bytes >= self.max_bytes or (self.max_docs is not None and cur.documents >= self.max_docs)
        ):
            self._close(None)
            cur = None
        if cur is None:
            cur = self._current = ShardWriter(self.out_dir / self.name(self.index)).__enter__()
            self.index += 1
        cur.write(doc)

    def _close(self, exc_type) -> None:
        if self._current is not None:
            self._current.__exit__(exc_type, None, None)
            if exc_type is None:
                self.written.append((self._current.path, self._current.documents))
            self._current = None

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close(exc_type)


def write_documents(path: str | Path, docs: Iterable[Document]) -> int:
    """Write ``docs`` to one shard atomically; return the number written."""
    with ShardWriter(path) as w:
        for doc in docs:
            w.write(doc)
    return w.documents
