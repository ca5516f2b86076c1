"""``gptkit data pack``: document shards → token shards that training reads.

The stage streams documents in input order, appends ``<|endoftext|>`` to each, and writes
``train_00000.bin``, ``val_00000.bin``… (see :mod:`gptkit.pack.format`) of about
``shard_tokens`` tokens. It runs in three steps:

1. **scan** the inputs once to count their documents (empty ones and bad records are counted
   and skipped), and draw the validation documents from the seed;
2. **encode** chunks of documents on ``workers`` processes and write the results *in input
   order*, so the shards are byte-identical whatever the number of workers;
3. **finish**: copy the tokenizer to ``OUT/tokenizer/``, write ``val_ids.txt``, the manifest
   and ``config.toml``.

Every finished shard gets a completion marker holding its counts, hashes and the document it
ends before; a killed pack, rerun, restarts each split after its last finished shard and
encodes nothing that is already on disk. Markers belong to one tokenizer, input set and
config (``completions/run.json``): a rerun with anything else is refused instead of mixing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.exec import COMPLETIONS, Executor, ExecutorConfig, Phase, executor_for, marker_path, read_marker
from gptkit.io.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temps,
)
from gptkit.io.manifest import Manifest, file_record
from gptkit.io.shards import Issue, IssueLog, document_files, iter_documents
from gptkit.pack.config import DEFAULT_VAL_FRACTION, PackConfig
from gptkit.pack.encode import encode_documents, init_worker
from gptkit.pack.format import TokenShardWriter, dtype_for_vocab, index_path, read_doc_ends, read_header
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, check_out_dir

STAGE = "pack"
SPLITS = ("train", "val")
ENCODED = ".work/encoded"  # encoded input files waiting for the writer (Slurm only)
RUN_MARKER = "run"
VAL_IDS = "val_ids.txt"
TOKENIZER_DIR = "tokenizer"

@dataclass
class PackSummary(StageResult):
    """What a pack produced (the manifest's counts, plus what this run did)."""

    out: Path
    tokens: dict[str, int]
    documents: dict[str, int]
    shards: dict[str, int]
    input_files: int
    empty_documents: int
    skipped_records: int
    resumed_shards: int = 0
    seconds: float = 0.0
    issues: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "out": str(self.out)}


def pack(config: PackConfig, reporter: Reporter = NULL_REPORTER, executor: ExecutorConfig | None = None) -> PackSummary:
    """Pack ``config.inputs`` into token shards under ``config.out`` (see the module docstring);
    ``executor`` runs the encoder (local processes by default), never changing the shards."""
    from gptkit.tokenizer import load_tokenizer

    started = time.perf_counter()
    if config.out is None:
        raise ConfigError("pack.out: no output directory given (--out DIR)")
    if config.tokenizer is None:
        raise ConfigError("pack.tokenizer: no tokenizer given (--tokenizer DIR)")
    if not config.inputs:
        raise UsageError("no inputs: give document shards, directories or glob patterns")
    out = Path(config.out)
    check_out_dir(out, STAGE)  # before hashing the inputs: a wrong --out fails at once
    files = document_files(config.inputs)
    check_inputs([*files, Path(config.tokenizer)])
    tok = load_tokenizer(config.tokenizer)
    _refuse_other_tokenizer(out, tok.hash)
    with reporter.task("hash inputs", total=len(files), unit="files") as task:
        inputs = []
        for f in files:
            inputs.append(file_record(f))
            task.advance()
    identity = {
        "tokenizer_hash": tok.hash,
        "settings": config.identity(),
        "inputs": [[r["hash"], r["bytes"]] for r in inputs],  # in order: the order decides the output
    }
    run = StageRun(STAGE, out, identity, inputs)
    if (done := run.reuse()) is not None:
        return PackSummary(out=out, **done["summary"], seconds=time.perf_counter() - started, reused=True)
    run.begin()
    timings: dict[str, float] = {}

    t = time.perf_counter()
    issues = IssueLog()
    scan = scan_inputs(files, config.text_key, issues, reporter)
    val = choose_validation(scan.total, config)
    if config.val_docs is not None and len(val) < config.val_docs:
        reporter.warn(f"--val-docs {config.val_docs:,} is more than the corpus can spare ({scan.total:,} documents, "
                      f"at least one for training): {len(val):,} held out")  # fmt: skip
    timings["scan"] = time.perf_counter() - t
    _claim(out, identity)  # once the inputs passed the scan: a refused pack leaves no claim behind

    t = time.perf_counter()
    meta = {"vocab_size": tok.vocab_size, "eot_id": tok.eot_id, "dtype": dtype_for_vocab(tok.vocab_size).name}
    done = {split: finished_shards(out, split) for split in SPLITS}
    resumed = sum(len(v) for v in done.values())
    if resumed:
        reporter.log(f"resuming: {resumed} finished shard(s) kept")
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    _encode_and_write(config, tok, files, scan, val, done, meta, reporter, executor, key)
    timings["encode"] = time.perf_counter() - t

    summary = _finish(config, run, tok, scan, issues, val, meta, resumed, timings)
    summary.seconds = time.perf_counter() - started
    return summary


# -- inputs and the validation split ----------------------------------------------------------


def is_empty(text: str) -> bool:
    """Documents with no text, or only whitespace, are skipped (and counted)."""
    return not text.strip()


@dataclass
class Scan:
    """Documents per input file (non-empty, valid ones) and what was skipped."""

    docs_per_file: list[int]
    empty_documents: int
    empty_files: list[str]

    @property
    def total(self) -> int:
        return sum(self.docs_per_file)

    @property
    def first_ordinal(self) -> np.ndarray:
        """Ordinal of each file's first document; the last entry is the total."""
        return np.concatenate([[0], np.cumsum(self.docs_per_file, dtype=np.int64)])


def scan_inputs(files: list[Path], text_key: str, issues: IssueLog, reporter: Reporter = NULL_REPORTER) -> Scan:
    """Count the documents of every input (the ordinals the split and resume points refer to)."""
    counts, empty, empty_files = [], 0, []
    with reporter.task("scan", total=len(files), unit="files") as task:
        for path in files:
            n = 0
            for doc in iter_documents(path, issues, text_key):
                if is_empty(doc["text"]):
                    empty += 1
                else:
                    n += 1
            counts.append(n)
            if n == 0:
                empty_files.append(str(path))
            task.advance()
    if sum(counts) == 0:
        raise InputError(f"no documents to pack in {len(files)} input file(s) (all empty or invalid)", files[0])
    for path in empty_files:
        reporter.warn(f"{path}: no documents to pack")
    return Scan(counts, empty, empty_files)


def choose_validation(total: int, config: PackConfig) -> np.ndarray:
    """Sorted ordinals of the held-out documents, drawn from ``config.seed``.

    ``val_docs`` documents exactly, else ``round(val_fraction * total)``; at least one when the
    request is above zero and there are two documents or more; never all of them.
    """
    if config.val_docs is not None:
        n = config.val_docs
    else:
        fraction = DEFAULT_VAL_FRACTION if config.val_fraction is None else config.val_fraction
        n = max(1, round(fraction * total)) if fraction > 0 else 0
    n = min(n, total - 1)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    # Block by block, so memory stays O(n + block) for any corpus: how many of the n fall into
    # each block follows the hypergeometric law, then they are drawn uniformly inside it.
    rng = np.random.default_rng(config.seed)
    picks, left_val, left = [], n, total
    for start in range(0, total, _SPLIT_BLOCK):
        size = min(_SPLIT_BLOCK, total - start)
        if left_val in (0, left):  # none left to draw, or every remaining document is drawn
            k = size if left_val else 0
        else:
            k = int(rng.hypergeometric(left_val, left - left_val, size))
        picks.append(start + np.sort(rng.choice(size, size=k, replace=False)))
        left_val, left = left_val - k, left - size
    return np.concatenate(picks).astype(np.int64)


_SPLIT_BLOCK = 1 << 20


# -- output directory state -------------------------------------------------------------------


def _previous_claim(out: Path) -> dict | None:
    """The identity of the pack whose finished shards ``out`` holds (None before the first shard)."""
    if not any((out / COMPLETIONS).glob("*_0*.json")):
        return None
    return read_marker(out, RUN_MARKER)


def _refuse_other_tokenizer(out: Path, tokenizer_hash: str) -> None:
    previous = _previous_claim(out)
    if previous is not None and previous.get("tokenizer_hash") != tokenizer_hash:
        raise UsageError(
            f"{out} holds a pack made with another tokenizer ({previous.get('tokenizer_hash')}, not "
            f"{tokenizer_hash}): refusing to mix; use another --out or delete it"
        )


def _claim(out: Path, identity: dict) -> None:
    """Refuse to add to another pack's finished shards; otherwise record who owns the markers."""
    previous = _previous_claim(out)
    if previous is not None and previous != identity:
        _refuse_other_tokenizer(out, identity["tokenizer_hash"])
        what = "inputs" if previous.get("inputs") != identity["inputs"] else "settings"
        raise UsageError(f"{out} holds a pack of other {what}: refusing to mix; use another --out or delete it")
    remove_stale_temps(out)
    atomic_write_json(marker_path(out, RUN_MARKER), identity)


def shard_name(split: str, index: int) -> str:
    return f"{split}_{index:05d}.bin"


def finished_shards(out: Path, split: str) -> list[dict]:
    """Markers of the split's finished shards that are still intact on disk, in order.

    Stops at the first shard without a marker, or whose files are missing or have another
    size than recorded (a truncated file); markers after it are removed, so those shards are
    written again.
    """
    done: list[dict] = []
    while (marker := read_marker(out, split + f"_{len(done):05d}")) is not None:
        path = out / marker["path"]
        try:
            intact = read_header(path).n_tokens == marker["tokens"] and path.stat().st_size == marker["bytes"]
            intact = intact and read_doc_ends(path) is not None
        except InputError:
            intact = False
        if not intact:
            break
        done.append(marker)
    stale = sorted((out / COMPLETIONS).glob(f"{split}_*.json"))[len(done) :]
    for p in stale:
        p.unlink()
    return done


# -- encoding ---------------------------------------------------------------------------------

@dataclass
class _Chunk:
    texts: list[str]
    ordinals: list[int]
    splits: list[int]  # index into SPLITS
    ids: list[str]
    consumed: int  # documents read for this chunk, encoded or not (progress)


def _chunks(files: list[Path], first: np.ndarray, start: int, wanted: Callable[[int], int | None],
            text_key: str, chunk_bytes: int) -> Iterator[_Chunk]:  # fmt: skip
    """Chunks of the documents still to encode, from ordinal ``start`` on, in input order.

    ``wanted(ordinal)`` gives the split a document goes to, or None when it is already packed;
    ``first[i]`` is the ordinal of file ``i``'s first document (``first[-1]``: the total).
    """
    chunk, size, consumed = _Chunk([], [], [], [], 0), 0, 0
    for i, path in enumerate(files):
        if first[i + 1] <= start:
            continue
        ordinal = int(first[i])
        for doc in iter_documents(path, _ignore, text_key):
            text = doc["text"]
            if is_empty(text):
                continue
            if ordinal < start:
                ordinal += 1
                continue
            split = wanted(ordinal)
            ordinal += 1
            consumed += 1
            if split is None:
                continue
            chunk.texts.append(text)
            chunk.ordinals.append(ordinal - 1)
            chunk.splits.append(split)
            chunk.ids.append(doc["id"])
            size += len(text)
            if size >= chunk_bytes:
                chunk.consumed, consumed = consumed, 0
                yield chunk
                chunk, size = _Chunk([], [], [], [], 0), 0
    chunk.consumed = consumed
    if chunk.texts or consumed:
        yield chunk


def _ignore(issue: Issue) -> None:
    """Bad records were counted by the scan; the encode pass skips them silently."""


def _encoded(chunks: Iterator[_Chunk], runner: Executor, tok: Any) -> Iterator[tuple[_Chunk, tuple]]:
    """``(chunk, encode_documents(chunk.texts))`` in input order, on ``runner``'s workers
    (each gets a pickled copy of the tokenizer), with at most two chunks per worker in flight."""
    sent: deque[_Chunk] = deque()

    def texts() -> Iterator[list[str]]:
        for chunk in chunks:
            sent.append(chunk)
            yield chunk.texts

    for encoded in runner.imap(encode_documents, texts(), init_worker, (tok,)):
        yield sent.popleft(), encoded


@dataclass(frozen=True)
class EncodeTask:
    """One input file's documents still to pack, encoded into ``part`` (an ``.npz``)."""

    path: str
    first: np.ndarray  # ordinals of the file's first document and of the next file's
    cursors: tuple[int, int]  # the next train and val ordinals to pack
    val: np.ndarray  # the file's validation ordinals
    text_key: str
    part: str


def encode_file_task(task: EncodeTask) -> dict:
    """Encode one file's wanted documents (tokenizer from :func:`init_worker`) into its part."""
    start = min(task.cursors)
    chunk = _Chunk([], [], [], [], 0)
    for piece in _chunks([Path(task.path)], task.first, start, _wanted(task.val, task.cursors), task.text_key, 1 << 62):
        chunk = piece  # one chunk: no size limit
    tokens, lengths = encode_documents(chunk.texts) if chunk.texts else (np.zeros(0, np.uint16), np.zeros(0, np.int64))
    with atomic_path(Path(task.part)) as tmp, open(tmp, "wb") as f:
        np.savez(f, tokens=tokens, lengths=lengths, ordinals=np.asarray(chunk.ordinals, dtype=np.int64),
                 splits=np.asarray(chunk.splits, dtype=np.int8), ids=np.asarray(chunk.ids, dtype=str),
                 consumed=chunk.consumed)  # fmt: skip
    return {"documents": len(chunk.texts), "tokens": int(len(tokens))}


def _encoded_in_parts(out: Path, files: list[Path], scan: Scan, val: np.ndarray, cursors: tuple[int, int],
                      text_key: str, runner: Executor, tok: Any, key: str) -> Iterator[tuple[_Chunk, tuple]]:  # fmt: skip
    """What :func:`_encoded` yields, for executors that run tasks but cannot stream (Slurm): one
    task per input file encodes it into ``OUT/.work/encoded/`` first; the parts are then read in order.
    ``key`` (the pack's identity) and the cursors name the tasks, so a rerun reuses only its own."""
    first = scan.first_ordinal
    parts = out / ENCODED
    tasks = [EncodeTask(str(f), first[i : i + 2], cursors, val[(val >= first[i]) & (val < first[i + 1])], text_key,
                        str(parts / f"{i:05d}-{key}-{cursors[0]}-{cursors[1]}.npz")) for i, f in enumerate(files)]  # fmt: skip
    ids = [f"encode-{Path(t.part).stem}" for t in tasks]
    runner.run(Phase(encode_file_task, tasks, ids, out, init_worker, (tok,), name="encode"))
    for task in tasks:
        with np.load(task.part) as z:
            chunk = _Chunk([], z["ordinals"].tolist(), z["splits"].tolist(), z["ids"].tolist(), int(z["consumed"]))
            yield chunk, (z["tokens"], z["lengths"])
    shutil.rmtree(parts.parent, ignore_errors=True)
    for tid in ids:
        marker_path(out, tid).unlink(missing_ok=True)


class SplitWriter:
    """Writes one split's documents into shards of about ``shard_tokens`` tokens (a shard closes
    after the document that reaches the size) and a completion marker per finished shard."""

    def __init__(self, out: Path, split: str, done: list[dict], shard_tokens: int, meta: dict, keep_ids: bool):
        self.out, self.split, self.shard_tokens, self.meta, self.keep_ids = out, split, shard_tokens, meta, keep_ids
        self.index = len(done)
        self.writer: TokenShardWriter | None = None
        self.ids: list[str] = []
        self.next_ordinal = 0

    def add(self, tokens: np.ndarray, lengths: np.ndarray, ordinals: list[int], ids: list[str]) -> None:
        ends = np.cumsum(lengths)
        i, pos = 0, 0
        while i < len(lengths):
            if self.writer is None:
                path = self.out / shard_name(self.split, self.index)
                self.writer = TokenShardWriter(path, self.meta["vocab_size"], self.meta["eot_id"]).__enter__()
            room = self.shard_tokens - self.writer.n_tokens
            k = min(int(np.searchsorted(ends, pos + room, side="left")) + 1, len(lengths))  # docs i..k-1
            self.writer.add_documents(tokens[pos : ends[k - 1]], lengths[i:k])
            if self.keep_ids:
                self.ids.extend(ids[i:k])
            self.next_ordinal = ordinals[k - 1] + 1
            i, pos = k, int(ends[k - 1])
            if self.writer.n_tokens >= self.shard_tokens:
                self.finish_shard()

    def finish_shard(self) -> None:
        """Close the open shard (if any) and write its marker."""
        if self.writer is None:
            return
        w, self.writer = self.writer, None
        w.__exit__(None, None, None)
        idx = index_path(w.path)
        marker = {
            **file_record(w.path, self.out, tokens=w.n_tokens, documents=w.n_docs),
            "index": file_record(idx, self.out),
            "next_ordinal": self.next_ordinal,
        }
        if self.keep_ids:
            marker["ids"], self.ids = self.ids, []
        atomic_write_json(marker_path(self.out, w.path.stem), marker)
        self.index += 1

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self.writer = None


def _wanted(val: np.ndarray, cursors: tuple[int, int]) -> Callable[[int], int | None]:
    """The split of each document, asked in increasing ordinals; None when already packed."""
    val_set = _SortedSet(val)

    def wanted(ordinal: int) -> int | None:
        split = 1 if val_set.contains(ordinal) else 0
        return split if ordinal >= cursors[split] else None

    return wanted


def _encode_and_write(config: PackConfig, tok: Any, files: list[Path], scan: Scan, val: np.ndarray,
                      done: dict[str, list[dict]], meta: dict, reporter: Reporter,
                      executor: ExecutorConfig | None, key: str) -> None:  # fmt: skip
    cursors = (done["train"][-1]["next_ordinal"] if done["train"] else 0,
               done["val"][-1]["next_ordinal"] if done["val"] else 0)  # fmt: skip
    writers = [SplitWriter(Path(config.out), s, done[s], config.shard_tokens, meta, keep_ids=s == "val") for s in SPLITS]
    start = min(cursors)
    runner = executor_for(config.workers or os.cpu_count() or 1, executor)
    if executor is not None and executor.kind == "slurm":
        encoded = _encoded_in_parts(Path(config.out), files, scan, val, cursors, config.text_key, runner, tok, key)
    else:
        chunks = _chunks(files, scan.first_ordinal, start, _wanted(val, cursors), config.text_key, config.chunk_bytes)
        encoded = _encoded(chunks, runner, tok)
    try:
        with reporter.task("pack", total=scan.total, unit="docs") as task:
            task.update(completed=start)
            n_tokens, t0 = 0, time.perf_counter()
            for chunk, (tokens, lengths) in encoded:
                _write_chunk(writers, chunk, tokens, lengths)
                n_tokens += len(tokens)
                rate = n_tokens / max(time.perf_counter() - t0, 1e-9)
                task.advance(chunk.consumed)
                task.update(tokens=f"{n_tokens:,}", rate=f"{rate / 1e6:.2f}M tok/s")
        for w in writers:
            w.next_ordinal = scan.total
            w.finish_shard()
    except BaseException:
        for w in writers:
            w.abort()
        raise


def _write_chunk(writers: list[SplitWriter], chunk: _Chunk, tokens: np.ndarray, lengths: np.ndarray) -> None:
    """Hand each run of consecutive same-split documents to its split's writer."""
    if not chunk.splits:  # every document of the chunk was already packed
        return
    splits = np.asarray(chunk.splits)
    ends = np.cumsum(lengths)
    cuts = np.flatnonzero(np.diff(splits)) + 1
    for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(splits)]]), strict=True):
        lo = int(ends[a - 1]) if a else 0
        writers[splits[a]].add(tokens[lo : ends[b - 1]], lengths[a:b], chunk.ordinals[a:b], chunk.ids[a:b])


class _SortedSet:
    """Membership of increasing queries in a sorted array, in O(1) memory beyond the array."""

    def __init__(self, values: np.ndarray):
        self.values, self.i = values, 0

    def contains(self, x: int) -> bool:
        v = self.values
        while self.i < len(v) and v[self.i] < x:
            self.i += 1
        return self.i < len(v) and v[self.i] == x


# -- finishing --------------------------------------------------------------------------------

#: Files of the tokenizer layouts ``load_tokenizer`` reads (gptkit/HF, OpenAI GPT-2, HF slow).
TOKENIZER_FILE_NAMES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
    "encoder.json", "vocab.bpe",
)  # fmt: skip


def copy_tokenizer(source: Path, dest: Path) -> None:
    """Copy the tokenizer's files as they are (its content hash does not depend on the layout)."""
    if source.is_dir() and not any((source / n).is_file() for n in TOKENIZER_FILE_NAMES):
        source = source / TOKENIZER_DIR  # a token, model or run directory holding one
    files = [source] if source.is_file() else [source / n for n in TOKENIZER_FILE_NAMES if (source / n).is_file()]
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        atomic_write_bytes(dest / f.name, f.read_bytes())



def _finish(config: PackConfig, run: StageRun, tok: Any, scan: Scan, issues: IssueLog, val: np.ndarray,
            meta: dict, resumed: int, timings: dict) -> PackSummary:  # fmt: skip
    out, inputs = run.out, run.inputs
    markers = {s: finished_shards(out, s) for s in SPLITS}
    copy_tokenizer(Path(config.tokenizer), out / TOKENIZER_DIR)
    val_ids = [i for m in markers["val"] for i in m.get("ids", [])]
    atomic_write_text(out / VAL_IDS, "".join(f"{i}\n" for i in val_ids))
    outputs = []
    for split in SPLITS:
        for m in markers[split]:
            outputs.append({k: m[k] for k in ("path", "bytes", "hash", "tokens", "documents")})
            outputs.append(m["index"])
    outputs.append(file_record(out / VAL_IDS, out, documents=len(val_ids)))
    outputs += [file_record(p, out) for p in sorted((out / TOKENIZER_DIR).iterdir()) if p.is_file()]
    summary = PackSummary(
        out=out,
        tokens={s: sum(m["tokens"] for m in markers[s]) for s in SPLITS},
        documents={s: sum(m["documents"] for m in markers[s]) for s in SPLITS},
        shards={s: len(markers[s]) for s in SPLITS},
        input_files=len(inputs),
        empty_documents=scan.empty_documents,
        skipped_records=issues.total,
        resumed_shards=resumed,
        issues=[str(i) for i in issues.examples[:20]],
    )
    method = "val_docs" if config.val_docs is not None else "val_fraction"
    value = config.val_docs if config.val_docs is not None else (
        DEFAULT_VAL_FRACTION if config.val_fraction is None else config.val_fraction)  # fmt: skip
    split = {"method": method, "value": value, "seed": config.seed, "documents": scan.total,
             "val_documents": len(val), "ids_file": VAL_IDS}  # fmt: skip
    counts = {
        **{f"{s}_tokens": summary.tokens[s] for s in SPLITS},
        **{f"{s}_documents": summary.documents[s] for s in SPLITS},
        **{f"{s}_shards": summary.shards[s] for s in SPLITS},
        "input_files": len(inputs),
        "empty_input_files": len(scan.empty_files),
        "empty_documents": scan.empty_documents,
        "skipped_records": issues.total,
        "resumed_shards": resumed,
    }
    summary_json = {k: v for k, v in summary.to_json().items() if k not in ("out", "reused", "seconds")}
    dump_toml({"pack": config}, out / "config.toml")
    run.finish(Manifest(
        stage=STAGE, config=to_dict(config), inputs=inputs, outputs=outputs, counts=counts, timings=timings,
        extra={**meta, "tokenizer_hash": tok.hash, "split": split, "issues": issues.to_json(), "summary": summary_json},
    ))  # fmt: skip
    return summary
