"""Train a GPT-2-style byte-level BPE with HF ``tokenizers``, streaming the corpus.

HF trains fastest from files: Rust reads, pre-tokenises and counts them on every thread
(``train_from_iterator`` over Python strings was 1.2–2.5× slower, with twice the memory). So
documents are streamed from the shards by a producer thread into a named pipe that HF reads as
a file: nothing is held in Python lists and nothing is written to disk. HF's file reader cuts its input at every ``\\n``,
which would stop any whitespace pre-token from spanning a line break (no ``"\\n\\n"`` token); so
the producer swaps the bytes ``\\n`` and ``\\v`` (both whitespace to the GPT-2 regex, so
pre-tokenisation is unchanged), ends every document with a real ``\\n``, and swaps them back in
the learned merges. Each document is therefore one training sequence, as in GPT-2 and CS336.
HF's trainer is slower and takes about twice the memory on very long lines, so the producer also
cuts documents into lines of ~4 KiB, just before a space or line break that follows printable
ASCII: no pre-token spans such a cut, so the counts are those of whole documents.

The learned merges are renumbered GPT-2-style (256 bytes in GPT-2's order, merges in order,
then the specials), which lets the tiktoken engine encode with ids identical to HF's.
"""

from __future__ import annotations

import array
import fcntl
import json
import os
import re
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gptkit.config import dump_toml, to_dict
from gptkit.errors import InputError, StageFailure, UsageError
from gptkit.io.atomic import remove_stale_temps
from gptkit.io.manifest import Manifest, file_record
from gptkit.io.memory import release_free_memory
from gptkit.io.shards import Issue, IssueLog, damage_reason, document_files, is_record_file, iter_records
from gptkit.io.streams import DamagedStream, iter_chunks
from gptkit.reporting import NULL_REPORTER, Reporter, TaskHandle
from gptkit.stage import StageResult, StageRun, check_inputs, check_out_dir, identity
from gptkit.tokenizer.bytes_unicode import gpt2_byte_order, to_bytes
from gptkit.tokenizer.config import TrainTokenizerConfig
from gptkit.tokenizer.tokenizer import TOKENIZER_FILES, Tokenizer

STAGE = "tokenizer"
#: Held-out text kept in memory to measure bytes per token.
HELD_OUT_MAX_BYTES = 8 << 20
#: Held-out text on which tiktoken's ids are checked against HF tokenizers' after training
#: (HF encodes ~10x slower; the engines' identity itself is proven by the tests).
HF_CHECK_BYTES = 256 << 10
#: Text files are read in pieces of about this size; each piece counts as one document.
TEXT_PIECE_BYTES = 64 << 10

_SWAP = bytes.maketrans(b"\n\x0b", b"\x0b\n")
#: Documents are cut into lines of at least this many bytes, before a space or a (swapped)
#: newline that follows printable ASCII; no pre-token spans such a cut, so the counts do not
#: change. Measured on 76 MB here: 200 KB lines took HF 1.9x the memory and 1.4x the time of
#: 4 KiB ones, and 256-byte lines cost the Python producer 1 s more.
LINE_BYTES = 4096
_CUT_POINT = re.compile(rb"[!-~](?=[ \x0b])")
_ASCII_SPACE = b" \t\n\r\x0b\x0c"


@dataclass
class TokenizerSummary(StageResult):
    """What a training run produced (also what ``gptkit tokenizer train`` prints)."""

    out: str
    merges_requested: int
    merges: int
    vocab_size: int
    documents: int
    text_bytes: int
    held_out_documents: int
    bytes_per_token: float | None
    train_seconds: float
    tokenizer_hash: str
    engines_agree: bool | None
    issues: int
    notes: list[str] = field(default_factory=list)


@dataclass
class _Corpus:
    """What the producer saw: counts, skipped input and the held-out documents."""

    issues: IssueLog
    documents: int = 0
    text_bytes: int = 0
    held_out: list[str] = field(default_factory=list)
    held_out_bytes: int = 0
    error: BaseException | None = None


def train_tokenizer(config: TrainTokenizerConfig, reporter: Reporter = NULL_REPORTER, force: bool = False) -> TokenizerSummary:
    """Train on ``config.inputs`` and write the tokenizer directory ``config.out``.

    A finished output with the same config and inputs is not trained again (``force`` retrains).
    """
    if config.out is None:
        raise UsageError("no output directory (--out)")
    if not config.inputs:
        raise UsageError("no input files")
    out = Path(config.out)
    check_out_dir(out, STAGE)  # before hashing the inputs: a wrong --out fails at once
    files = document_files(config.inputs)  # the documents 'data pack' would pack
    check_inputs(files)
    with reporter.task("hashing inputs", total=len(files), unit="files") as task:
        inputs = []
        for path in files:
            inputs.append(file_record(path))
            task.advance()
    run = StageRun(STAGE, out, identity(to_dict(config)), inputs)
    if not force and (done := run.reuse()) is not None:
        return TokenizerSummary(**done["summary"], reused=True)
    remove_stale_temps(out)
    _set_threads(config.threads)

    start = time.perf_counter()
    issues = IssueLog()
    issues.on_issue = lambda issue: reporter.warn(str(issue)) if issues.total <= 5 else None
    corpus = _Corpus(issues)
    merges = _train_merges(files, config, corpus, reporter)
    train_seconds = time.perf_counter() - start
    # HF freed its counts, but in the trainer thread's malloc arena, which the work below cannot
    # reuse: hand that memory back first, or it adds to the peak (measured 271 MB -> 225 MB).
    release_free_memory()
    if not corpus.documents:
        named = files[0] if len(files) == 1 else f"{len(files)} input files ({files[0]}, …)"
        raise InputError(f"no documents with text ({issues.total} bad records)", named)
    tokenizer = _renumber(merges, config.specials, name=out.name or "bpe")
    if tokenizer.engine != "tiktoken":  # cannot happen after _renumber; a guard for the fast path
        raise StageFailure("renumbered merges do not follow ids; please report this")

    bytes_per_token, agree = _held_out_check(tokenizer, corpus.held_out, reporter)
    run.begin()  # the first write to OUT: an interrupted training leaves no folder behind
    tokenizer.save(out)
    summary = TokenizerSummary(
        out=str(out), merges_requested=config.merges, merges=len(tokenizer.merges),
        vocab_size=tokenizer.vocab_size, documents=corpus.documents, text_bytes=corpus.text_bytes,
        held_out_documents=len(corpus.held_out), bytes_per_token=bytes_per_token,
        train_seconds=round(train_seconds, 2), tokenizer_hash=tokenizer.hash, engines_agree=agree,
        issues=corpus.issues.total, notes=_notes(config, tokenizer, corpus, agree, len(merges)),
    )  # fmt: skip
    dump_toml({STAGE: config}, out / "config.toml")
    run.finish(Manifest(
        stage=STAGE, config=to_dict(config), inputs=inputs,
        outputs=[file_record(out / name, out) for name in (*TOKENIZER_FILES, "config.toml")],
        counts={k: v for k, v in asdict(summary).items() if isinstance(v, int) and not isinstance(v, bool)},
        timings={"train": summary.train_seconds, "total": round(time.perf_counter() - start, 2)},
        extra={"summary": _recorded(summary), "issues": corpus.issues.to_json(),
               "eot_id": tokenizer.eot_id, "specials": tokenizer.specials},
    ))  # fmt: skip
    return summary


def _train_merges(
    files: list[Path], config: TrainTokenizerConfig, corpus: _Corpus, reporter: Reporter
) -> list[tuple[bytes, bytes]]:
    """Run the HF trainer on a named pipe fed from ``files``; return the merges as raw bytes."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import models, pre_tokenizers, trainers

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=256 + config.merges, min_frequency=config.min_frequency, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )  # fmt: skip
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="gptkit-bpe-") as tmp, reporter.task(
        "reading + counting", total=sum(p.stat().st_size for p in files), unit="B"
    ) as task:
        fifo = Path(tmp) / "corpus.txt"
        os.mkfifo(fifo)
        # Opened read-write, the pipe has a writer before HF opens it (so HF never blocks on open)
        # and writes never fail for want of a reader; closing it is HF's end of file.
        fd = os.open(fifo, os.O_RDWR)
        producer = threading.Thread(target=_produce, args=(fd, files, config, corpus, task, stop), daemon=True)
        producer.start()
        try:
            _interruptible(hf.train, [str(fifo)], trainer)
        finally:
            stop.set()
            _drain(fifo, producer)
    if corpus.error is not None:
        raise corpus.error
    model = json.loads(hf.to_str())["model"]
    return [_pair_bytes(m) for m in model["merges"]]


def _interruptible(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a daemon thread, so that Ctrl-C stops the command at once.

    HF's ``train`` is one native call (it releases the GIL) that can last hours and never
    returns to Python in between, so signals would wait for its end. The main thread waits on it
    instead; on Ctrl-C it leaves (the pipe gets its end of file, the process exits and takes the
    abandoned thread with it).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=run, name="hf-trainer", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _produce(fd: int, files: list[Path], config: TrainTokenizerConfig, corpus: _Corpus, task: TaskHandle,
             stop: threading.Event) -> None:  # fmt: skip
    """Producer thread: write every training document (swapped, cut into lines) to the pipe."""
    every = round(1 / config.held_out) if config.held_out else 0
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as sink:
            try:
                for path in files:
                    for text in _documents(path, config.text_key, corpus.issues):
                        if stop.is_set():
                            return
                        corpus.documents += 1
                        data = text.encode("utf-8")
                        corpus.text_bytes += len(data)
                        if every and corpus.documents % every == 0 and corpus.held_out_bytes < HELD_OUT_MAX_BYTES:
                            corpus.held_out.append(text)
                            corpus.held_out_bytes += len(data)
                            continue
                        _write_document(sink, data)
                    task.advance(path.stat().st_size)
                    task.update(documents=f"{corpus.documents:,}", text=f"{corpus.text_bytes / 1e6:,.0f} MB")
            finally:
                sink.write(b"\n")  # an empty line: something to read even when there was no text
                sink.flush()
                _wait_until_read(sink.fileno(), stop)
    except BaseException as e:  # reported by the training thread once HF has seen end of file
        corpus.error = e


def _wait_until_read(fd: int, stop: threading.Event) -> None:
    """Wait until HF has read everything from the pipe: only then is closing it an end of file
    (closed before HF opens it, the pipe would be empty and HF's open would wait forever)."""
    unread = array.array("i", [0])
    while not stop.is_set():
        fcntl.ioctl(fd, termios.FIONREAD, unread)
        if unread[0] == 0:
            return
        time.sleep(0.005)


def _write_document(sink: BinaryIO, data: bytes) -> None:
    """One document as one HF training line (see the module docstring).

    Whitespace at the very end of a document is left out: HF would glue the line end onto it.
    """
    data = data.rstrip(_ASCII_SPACE).translate(_SWAP)
    start = 0
    while len(data) - start > LINE_BYTES and (cut := _CUT_POINT.search(data, start + LINE_BYTES)):
        sink.write(data[start : cut.end()])
        sink.write(b"\n")
        start = cut.end()
    if start < len(data):
        sink.write(data[start:])
        sink.write(b"\n")


def _documents(path: Path, text_key: str, issues: IssueLog):
    """Texts of one input: JSONL/parquet documents, or a text file in pieces cut at safe line breaks."""
    if is_record_file(path):
        for line_no, obj in iter_records(path, issues, text_key):
            text = obj.get(text_key)
            if isinstance(text, str):
                yield text
            else:
                issues(Issue(str(path), line_no, f"missing '{text_key}'" if text is None else f"'{text_key}' is not a string"))
        return
    yield from _text_pieces(path, issues)


def _text_pieces(path: Path, issues: IssueLog):
    """A text file in pieces of about ``TEXT_PIECE_BYTES``, each ending just before a newline
    that follows printable ASCII (so no pre-token spans two pieces)."""
    buf = b""
    line = 1
    try:
        for chunk in iter_chunks(path):
            buf += chunk
            start = 0
            while (cut := _safe_cut(buf, start + TEXT_PIECE_BYTES)) != -1:
                piece = buf[start:cut]
                yield piece.decode("utf-8")
                line += piece.count(b"\n")
                start = cut
            buf = buf[start:]
        if buf:
            yield buf.decode("utf-8")
    except UnicodeDecodeError as e:
        issues(Issue(str(path), line, f"invalid UTF-8 (rest of file skipped): {e}"))
    except (DamagedStream, OSError) as e:
        issues(Issue(str(path), None, damage_reason(e)))


def _safe_cut(buf: bytes, start: int) -> int:
    """The first newline at or after ``start`` that follows printable ASCII; -1 if none."""
    pos = buf.find(b"\n", start)
    while pos != -1 and not 0x21 <= buf[pos - 1] <= 0x7E:
        pos = buf.find(b"\n", pos + 1)
    return pos


def _drain(fifo: Path, producer: threading.Thread) -> None:
    """Let the producer finish: if HF stopped reading early, read and discard what it writes."""
    producer.join(timeout=0.5)
    if not producer.is_alive():
        return
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while producer.is_alive():
            try:
                os.read(fd, 1 << 20)
            except BlockingIOError:
                producer.join(timeout=0.05)
    finally:
        os.close(fd)


def _pair_bytes(merge: Any) -> tuple[bytes, bytes]:
    a, b = merge.split(" ") if isinstance(merge, str) else merge
    return to_bytes(a).translate(_SWAP), to_bytes(b).translate(_SWAP)


def _renumber(merges: list[tuple[bytes, bytes]], specials: list[str], name: str) -> Tokenizer:
    """GPT-2 numbering: bytes 0–255 in GPT-2's order, one new id per merge, then specials.

    HF's trainer may record a second merge that makes an existing token; it is dropped (the
    first way to make the token stays), so every merge makes a new id and tiktoken applies.
    """
    ranks = {bytes([b]): i for i, b in enumerate(gpt2_byte_order())}
    kept = []
    for a, b in merges:
        if a + b not in ranks:
            ranks[a + b] = len(ranks)
            kept.append((a, b))
    return Tokenizer(ranks, kept, {s: len(ranks) + i for i, s in enumerate(specials)}, name=name)


def _held_out_check(tokenizer: Tokenizer, texts: list[str], reporter: Reporter) -> tuple[float | None, bool | None]:
    """Bytes per token on the held-out documents, and whether tiktoken and HF give the same ids."""
    if not texts:
        return None, None
    with reporter.task("held-out check", total=2) as task:
        ids = tokenizer.encode_batch(texts)
        task.advance()
        n = _prefix_count(texts, HF_CHECK_BYTES)  # HF is slow: compare engines on a part
        reference = [e.ids for e in tokenizer.hf_ordinary.encode_batch(texts[:n], add_special_tokens=False)]
        task.advance()
    n_tokens = sum(map(len, ids))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    return round(n_bytes / max(n_tokens, 1), 4), ids[:n] == reference


def _prefix_count(texts: list[str], max_chars: int) -> int:
    """How many of the first ``texts`` fit in ``max_chars`` characters (at least one)."""
    total = 0
    for i, text in enumerate(texts):
        total += len(text)
        if total > max_chars:
            return max(i, 1)
    return len(texts)


def _notes(config: TrainTokenizerConfig, tokenizer: Tokenizer, corpus: _Corpus, agree: bool | None,
           trained_merges: int) -> list[str]:  # fmt: skip
    notes = []
    if trained_merges > len(tokenizer.merges):
        notes.append(f"{trained_merges - len(tokenizer.merges)} merges made an existing token again and were dropped")
    if trained_merges < config.merges:
        notes.append(
            f"the corpus supports only {len(tokenizer.merges):,} merges at min_frequency "
            f"{config.min_frequency} (asked for {config.merges:,}): the vocabulary has "
            f"256 + {len(tokenizer.merges):,} + {len(tokenizer.specials)} = {tokenizer.vocab_size:,} ids"
        )
    if not corpus.held_out:
        notes.append("no held-out documents (corpus too small or held_out = 0): bytes per token not measured")
    if agree is False:
        notes.append("tiktoken and HF tokenizers gave different ids on the held-out documents; please report this")
    if corpus.issues.total:
        notes.append(f"{corpus.issues.total} bad input records were skipped (see manifest.json 'issues')")
    return notes


def _recorded(summary: TokenizerSummary) -> dict:
    """The summary as the manifest keeps it for a rerun that reuses the output."""
    return {k: v for k, v in asdict(summary).items() if k != "reused"}


def _set_threads(threads: int | None) -> None:
    """HF tokenizers' thread count (read when its thread pool starts, i.e. once per process)."""
    n = threads or os.cpu_count() or 1
    os.environ["RAYON_NUM_THREADS"] = str(n)
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if n > 1 else "false"
