"""The clean stage as resumable phases of tasks.

The steps and their order are declared once, in :mod:`gptkit.data.clean.steps`.

1. ``filter-NNNNN`` (one task per group of input files, in parallel): read documents, run the
   ``document`` steps (by default URL block-list → language id → Gopher repetition → Gopher
   quality → C4 → FineWeb), write the survivors to ``.work/filtered/NNNNN.jsonl.zst`` and their dedup keys and
   eval n-gram hits to ``.work/signatures/NNNNN.npz``.
2. ``index`` (one task): exact dedup, MinHash LSH clusters with union-find, and the eval n-grams
   too common to count (in more than ``max_train_docs`` documents), over all shards at once.
3. ``write-NNNNN`` (in parallel): run the ``shard`` steps (by default exact dedup → MinHash dedup
   → decontamination → PII masking) and write ``NNNNN.jsonl.zst``.

Every task writes its outputs atomically and then a completion marker, so a killed run resumes
where it stopped and produces byte-identical output. ``task_range`` restricts phases 1 and 3 to a
slice of the tasks so several machines sharing a filesystem can split the work; whichever run
finds phase 1 complete builds the index, and whichever finds phase 3 complete writes the stats.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from gptkit.config import dump_toml, to_dict
from gptkit.data.clean import dedup, steps
from gptkit.data.clean.config import CleanConfig
from gptkit.data.clean.decontaminate import ContaminationScanner, build_eval_index
from gptkit.data.clean.filters import Filter
from gptkit.data.clean.stats import StepStats, merge_issues, merge_steps
from gptkit.data.clean.text import utf8_len
from gptkit.errors import UsageError
from gptkit.exec import (
    COMPLETIONS,
    ExecutorConfig,
    Phase,
    executor_for,
    parse_task_range,
    read_marker,
)
from gptkit.io.atomic import atomic_path, atomic_write_json, atomic_write_text, remove_stale_temps
from gptkit.io.manifest import Manifest, file_record, input_records, read_manifest
from gptkit.io.shards import (
    Document,
    Issue,
    IssueLog,
    ShardWriter,
    document_files,
    iter_documents,
    shard_name,
)
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, identity

STAGE = "clean"
WORK = ".work"
STATS = "stats.json"
FUNNEL = "funnel.png"
REMOVED = "removed"
@dataclass(frozen=True)
class ShardTask:
    index: int
    files: tuple[str, ...]
    out: str


@dataclass
class CleanSummary(StageResult):
    """What :func:`clean` did. ``pending`` says what other task ranges still have to run."""

    out_dir: Path
    stats: dict[str, Any] = field(default_factory=dict)
    pending: str | None = None

    @property
    def complete(self) -> bool:
        return self.pending is None


def plan_tasks(files: list[Path], tasks: int, out: Path) -> list[ShardTask]:
    """Split the input files, in order, into ``tasks`` contiguous groups (0: one file per task)."""
    n = len(files) if tasks <= 0 else min(tasks, len(files))
    bounds = [round(i * len(files) / n) for i in range(n + 1)]
    return [ShardTask(i, tuple(str(f) for f in files[bounds[i] : bounds[i + 1]]), str(out)) for i in range(n)]


# ---------------------------------------------------------------- per-process state


class _Worker:
    """Steps built once per process (the language model and the eval index are not cheap)."""

    def __init__(self, cfg: CleanConfig, eval_keys: np.ndarray):
        self.cfg = cfg
        self.eval_keys = eval_keys
        self.scanner = (
            ContaminationScanner(eval_keys, cfg.decontaminate.ngram) if steps.is_active(cfg, "decontaminate") else None
        )

    @cached_property
    def filters(self) -> list[Filter]:  # built on first use: only phase 1 needs them
        return [step.build(self.cfg) for step in steps.active(self.cfg, "document")]

    @cached_property
    def shard_steps(self) -> list[Any]:  # only phase 3 needs them
        return [step.build(self.cfg) for step in steps.active(self.cfg, "shard")]

    @cached_property
    def hasher(self) -> dedup.MinHasher | None:
        return dedup.MinHasher(self.cfg.dedup) if steps.is_active(self.cfg, "minhash_dedup") else None


_worker: _Worker | None = None


def _init_worker(cfg: CleanConfig, eval_keys: np.ndarray) -> None:
    global _worker
    _worker = _Worker(cfg, eval_keys)


class _RemovedWriter:
    """``removed/<step>/NNNNN.jsonl.zst`` writers, opened on first use (only with keep_removed)."""

    def __init__(self, out: Path, task: int, enabled: bool):
        self.out, self.task, self.enabled = out, task, enabled
        self.writers: dict[str, ShardWriter] = {}

    def write(self, step: str, reason: str, doc: Document) -> None:
        if not self.enabled:
            return
        if step not in self.writers:
            self.writers[step] = ShardWriter(self.out / REMOVED / step / shard_name(self.task)).__enter__()
        self.writers[step].write({**doc, "metadata": {**doc["metadata"], "drop_reason": f"{step}/{reason}"}})

    def close(self, exc: BaseException | None = None) -> None:
        for w in self.writers.values():
            w.__exit__(type(exc) if exc else None, exc, None)


# ---------------------------------------------------------------- phase 1: filter + signatures


def filtered_path(out: Path, index: int) -> Path:
    return out / WORK / "filtered" / shard_name(index)


def signatures_path(out: Path, index: int) -> Path:
    return out / WORK / "signatures" / f"{index:05d}.npz"


def filter_task(task: ShardTask) -> dict:
    """Phase 1 for one task; returns its counts (stored in its completion marker)."""
    assert _worker is not None
    w, cfg, out = _worker, _worker.cfg, Path(task.out)
    issues, stats = IssueLog(keep=20), StepStats()
    exact: list[int] = []
    sigs: list[list[int]] = []
    contam_doc: list[int] = []
    contam_key: list[int] = []
    docs_in = bytes_in = 0
    removed = _RemovedWriter(out, task.index, cfg.keep_removed)
    exact_on = steps.is_active(cfg, "exact_dedup")
    try:
        with ShardWriter(filtered_path(out, task.index), level=1) as kept:
            for path in task.files:
                n_issues = issues.total
                seen = 0
                for doc in iter_documents(path, issues, cfg.text_key, max_line_bytes=cfg.max_doc_bytes):
                    seen += 1
                    nbytes = utf8_len(doc["text"])
                    docs_in += 1
                    bytes_in += nbytes
                    if _run_filters(w.filters, doc, nbytes, stats, removed):
                        continue
                    text = doc["text"]
                    if exact_on:
                        exact.append(dedup.exact_key(text))
                    if w.hasher is not None:
                        sigs.append(w.hasher.signature(text))
                    if w.scanner is not None:
                        for key in w.scanner.hits(text).tolist():
                            contam_doc.append(kept.documents)
                            contam_key.append(key)
                    kept.write(doc)
                if seen == 0 and issues.total == n_issues and os.path.getsize(path) == 0:
                    issues(Issue(str(path), None, "empty file"))
        n = kept.documents
        bands = (
            dedup.band_keys(np.asarray(sigs, dtype=np.uint64).reshape(n, w.hasher.num_perm), cfg.dedup.num_buckets, cfg.dedup.hashes_per_bucket)
            if w.hasher is not None
            else np.zeros((n, 0), dtype=np.uint64)
        )
        with atomic_path(signatures_path(out, task.index)) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                exact=np.asarray(exact, dtype=np.uint64),
                bands=bands,
                contam_doc=np.asarray(contam_doc, dtype=np.int64),
                contam_key=np.asarray(contam_key, dtype=np.uint64),
            )
    except BaseException as e:
        removed.close(e)
        raise
    removed.close()
    return {
        "documents_in": docs_in, "bytes_in": bytes_in, "documents_kept": n,
        "steps": stats.to_json(), "issues": issues.to_json(),
    }  # fmt: skip


def _run_filters(filters: list[Filter], doc: Document, nbytes: int, stats: StepStats, removed: _RemovedWriter) -> bool:
    """Run ``doc`` through the filters; True if one dropped it."""
    for f in filters:
        before = doc["text"]
        reason = f(doc)
        if reason is not None:
            stats.drop(f.name, reason, nbytes)
            removed.write(f.name, reason, doc)
            return True
        after = nbytes if doc["text"] is before else utf8_len(doc["text"])
        stats.keep(f.name, nbytes, after)
        nbytes = after
    return False


# ---------------------------------------------------------------- phase 2: global index


def index_path(out: Path) -> Path:
    return out / WORK / "index.npz"


@dataclass(frozen=True)
class IndexTask:
    out: str
    shards: int
    max_train_docs: int


def index_task(task: IndexTask) -> dict:
    """Phase 2: dedup decisions for every document and the eval n-grams to ignore."""
    assert _worker is not None
    cfg, out = _worker.cfg, Path(task.out)
    parts = [np.load(signatures_path(out, i)) for i in range(task.shards)]
    counts = [len(p["bands"]) for p in parts]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    result = dedup.find_duplicates(
        int(offsets[-1]),
        np.concatenate([p["exact"] for p in parts]) if steps.is_active(cfg, "exact_dedup") else None,
        np.concatenate([p["bands"] for p in parts]) if steps.is_active(cfg, "minhash_dedup") else None,
    )
    # Eval n-grams counted over the documents that survive dedup; the common ones are ignored.
    doc = np.concatenate([p["contam_doc"] + offsets[i] for i, p in enumerate(parts)])
    key = np.concatenate([p["contam_key"] for p in parts])
    alive = result.decision[doc] == dedup.KEEP if len(doc) else np.zeros(0, dtype=bool)
    keys, n_docs = np.unique(key[alive], return_counts=True)
    ignored = keys[n_docs > task.max_train_docs]
    with atomic_path(index_path(out)) as tmp, open(tmp, "wb") as f:
        np.savez(f, decision=result.decision, offsets=offsets, ignored=ignored)
    return {
        "documents": int(offsets[-1]),
        "exact_duplicates": int((result.decision == dedup.EXACT_DUP).sum()),
        "near_duplicates": int((result.decision == dedup.NEAR_DUP).sum()),
        "near_duplicate_clusters": result.clusters,
        "eval_ngrams_hit": len(keys),
        "eval_ngrams_ignored": len(ignored),
        "documents_with_eval_ngrams": len(np.unique(doc[alive])),
    }


# ---------------------------------------------------------------- phase 3: write


def write_task(task: ShardTask) -> dict:
    """Phase 3 for one task: run the shard steps (dedup, decontamination, PII) and write the output shard."""
    assert _worker is not None
    w, out = _worker, Path(task.out)
    index = np.load(index_path(out))
    start, stop = index["offsets"][task.index], index["offsets"][task.index + 1]
    dirty = set(np.load(signatures_path(out, task.index))["contam_doc"].tolist())
    active = np.setdiff1d(w.eval_keys, index["ignored"], assume_unique=True) if dirty else w.eval_keys
    ctx = steps.ShardContext(index["decision"][start:stop], dirty, active)
    stats = StepStats()
    removed = _RemovedWriter(out, task.index, w.cfg.keep_removed)
    try:
        with ShardWriter(out / shard_name(task.index)) as writer:
            for ctx.position, doc in enumerate(iter_documents(filtered_path(out, task.index))):
                for piece in _run_shard_steps(w.shard_steps, doc, ctx, stats, removed):
                    writer.write(piece)
    except BaseException as e:
        removed.close(e)
        raise
    removed.close()
    return {"documents_out": writer.documents, "pii_replacements": ctx.counts["pii_replacements"], "steps": stats.to_json()}


def _run_shard_steps(
    shard_steps: list[Any], doc: Document, ctx: steps.ShardContext, stats: StepStats, removed: _RemovedWriter
) -> list[Document]:
    """Run ``doc`` through the shard steps; the documents that come out (none if one dropped it)."""
    docs = [(doc, utf8_len(doc["text"]))]
    for step in shard_steps:
        after: list[tuple[Document, int]] = []
        for piece, nbytes in docs:
            before = piece["text"]
            reason, pieces = step(piece, ctx)
            if reason is not None:
                stats.drop(step.name, reason, nbytes)
                removed.write(step.name, reason, piece)
                continue
            sizes = [nbytes if p is piece and p["text"] is before else utf8_len(p["text"]) for p in pieces]
            stats.keep(step.name, nbytes, sum(sizes), docs_out=len(pieces))
            after += zip(pieces, sizes, strict=True)
        docs = after
    return [d for d, _ in docs]


# ---------------------------------------------------------------- driver


def clean(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: CleanConfig | None = None,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 1,
    task_range: str | None = None,
    executor: ExecutorConfig | None = None,
) -> CleanSummary:
    """Run (or resume) the clean stage; see the package docstring. ``executor`` says where the
    tasks run (local processes by default); it never changes the output."""
    cfg = config or CleanConfig()
    out = Path(out_dir)
    files = document_files(inputs)
    check_inputs(files)
    eval_files = [Path(p) for p in cfg.decontaminate.eval_files]
    for p in eval_files:
        if not p.is_file():
            raise UsageError(f"--decontaminate: eval file not found: {p}")
    records = input_records(files + eval_files)  # the eval files count by content, not by path
    _refuse_inputs_inside(out, files)
    run = StageRun(STAGE, out, identity(to_dict(cfg), ("decontaminate.eval_files",)), records)
    if run.reuse() is not None:
        return CleanSummary(out, json.loads((out / STATS).read_text(encoding="utf-8")), reused=True)
    run.begin()
    _reset_if_changed(out, run.identity, records, reporter)
    remove_stale_temps(out)

    eval_keys = build_eval_index([str(p) for p in eval_files], cfg.decontaminate.ngram)
    tasks = plan_tasks(files, cfg.tasks, out)
    selected = parse_task_range(task_range, len(tasks))
    filter_ids = [f"filter-{t.index:05d}" for t in tasks]
    write_ids = [f"write-{t.index:05d}" for t in tasks]
    init = {"setup": _init_worker, "setup_args": (cfg, eval_keys)}
    phases = [
        Phase(filter_task, tasks, filter_ids, out, **init, name="filter"),
        Phase(index_task, [IndexTask(str(out), len(tasks), cfg.decontaminate.max_train_docs)], ["index"], out, **init,
              name="dedup-index"),
        Phase(write_task, tasks, write_ids, out, **init, name="write"),
        Phase(finish_task, [FinishTask(run, cfg, tasks, filter_ids, write_ids, time.time())], ["finish"], out,
              name="finish", rerun=True),
    ]  # fmt: skip
    runner = executor_for(workers, executor)
    watch = functools.partial(_progress, reporter)
    if len(selected) == len(tasks):  # the whole stage: one chain (Slurm submits it at once)
        return CleanSummary(out, runner.run_stage(phases, watch)[-1]["finish"])
    for phase in phases:  # a slice by hand: each phase as far as the other slices got
        mine = phase
        if len(phase.tasks) == len(tasks):
            mine = replace(phase, tasks=[tasks[i] for i in selected], task_ids=[phase.task_ids[i] for i in selected])
        result = runner.run_stage([mine], watch)[0]
        if missing := [tid for tid in phase.task_ids if read_marker(out, tid) is None]:
            return CleanSummary(out, pending=f"{len(missing)} of {len(tasks)} {phase.name} tasks not done (other task ranges)")
    return CleanSummary(out, result["finish"])


@contextmanager
def _progress(reporter: Reporter, phase: Phase) -> Iterator[Callable[[str, dict, bool], None]]:
    """A bar per phase counting tasks and the documents they read or wrote."""
    with reporter.task(phase.name.replace("-", " "), total=len(phase.tasks), unit="tasks") as bar:
        docs = 0

        def done(tid: str, result: dict, skipped: bool) -> None:
            nonlocal docs
            docs += result.get("documents_in", result.get("documents_out", result.get("documents", 0)))
            bar.advance()
            bar.update(docs=f"{docs:,}")

        yield done


def _refuse_inputs_inside(out: Path, files: list[Path]) -> None:
    """Refuse an output folder that holds the inputs (a changed config clears its shards)."""
    root = out.resolve()
    if any(root == f.resolve().parent or root in f.resolve().parents for f in files):
        raise UsageError(f"--out {out} contains input files; choose another folder")


def _fingerprint(config_json: dict, records: list[dict]) -> str:
    data = orjson.dumps({"config": config_json, "inputs": sorted((r["hash"], r["bytes"]) for r in records)})
    return hashlib.sha256(data).hexdigest()


def _reset_if_changed(out: Path, config_json: dict, records: list[dict], reporter: Reporter) -> None:
    """Start afresh when the config or inputs differ from the interrupted run's (or its work is gone)."""
    stamp = out / WORK / "fingerprint"
    fingerprint = _fingerprint(config_json, records)
    if stamp.is_file() and stamp.read_text() == fingerprint and (out / WORK / "filtered").is_dir():
        return
    if (out / COMPLETIONS).exists() or (out / WORK).exists():
        reporter.warn(f"{out}: config or inputs changed since the interrupted run; starting again")
    for sub in (COMPLETIONS, WORK, REMOVED):
        shutil.rmtree(out / sub, ignore_errors=True)
    for old in out.glob("*.jsonl.zst"):
        old.unlink()
    (out / WORK / "filtered").mkdir(parents=True)  # before the stamp: a run sharing the folder sees both
    atomic_write_text(stamp, fingerprint)


@dataclass(frozen=True)
class FinishTask:
    run: StageRun
    cfg: CleanConfig
    tasks: list[ShardTask]
    filter_ids: list[str]
    write_ids: list[str]
    started: float  # when the run began (the manifest's seconds)


def finish_task(task: FinishTask) -> dict[str, Any]:
    """Last phase: merge the task results into stats.json, draw the funnel, write config.toml and
    the manifest; the stats. A task of its own, so a Slurm chain ends without the submitting process."""
    from gptkit.data.clean.funnel import write_funnel

    run, cfg, tasks, filter_ids, write_ids = task.run, task.cfg, task.tasks, task.filter_ids, task.write_ids
    out = run.out

    phase1 = [read_marker(out, tid) for tid in filter_ids]
    phase3 = [read_marker(out, tid) for tid in write_ids]
    index = read_marker(out, "index")
    docs_out = sum(r["documents_out"] for r in phase3)
    step_stats = merge_steps([r["steps"] for r in phase1] + [r["steps"] for r in phase3], cfg.steps)
    stats = {
        "documents_in": sum(r["documents_in"] for r in phase1),
        "bytes_in": sum(r["bytes_in"] for r in phase1),
        "documents_out": docs_out,
        "bytes_out": _last_bytes_out(step_stats, phase1),
        "input_issues": merge_issues([r["issues"] for r in phase1]),
        "steps": step_stats,
        "dedup": index,
        "pii_replacements": sum(r["pii_replacements"] for r in phase3),
    }
    atomic_write_json(out / STATS, stats)
    write_funnel(stats, out / FUNNEL)
    dump_toml({STAGE: cfg}, out / "config.toml")
    shards = [out / shard_name(t.index) for t in tasks]
    outputs = [file_record(p, out, documents=r["documents_out"]) for p, r in zip(shards, phase3, strict=True)]
    extra = sorted((out / REMOVED).rglob("*.jsonl.zst")) if (out / REMOVED).is_dir() else []
    outputs += [file_record(p, out) for p in extra]
    outputs += [file_record(out / name, out) for name in (STATS, FUNNEL, "config.toml")]
    run.finish(Manifest(
        stage=STAGE, config=to_dict(cfg), inputs=run.inputs, outputs=outputs,
        counts={"documents_in": stats["documents_in"], "documents_out": docs_out, "shards": len(shards)},
        timings={"seconds": round(time.time() - task.started, 3)},
    ))  # fmt: skip
    shutil.rmtree(out / WORK / "filtered", ignore_errors=True)
    shutil.rmtree(out / WORK / "signatures", ignore_errors=True)
    return stats


def _last_bytes_out(steps: dict[str, dict], phase1: list[dict]) -> int:
    """Text bytes after the last step (the input bytes when no step ran)."""
    if steps:
        return list(steps.values())[-1]["bytes_out"]
    return sum(r["bytes_in"] for r in phase1)


def read_stats(out_dir: str | Path) -> dict[str, Any]:
    """``stats.json`` of a finished clean output."""
    read_manifest(out_dir)
    return json.loads((Path(out_dir) / STATS).read_text(encoding="utf-8"))
