"""GPT-2-style n-gram overlap between a training corpus and an eval set (``gptkit data overlap``).

GPT-2 (section 4) reported the share of each test set's 8-grams found in WebText, using Bloom
filters over normalised words. Here the eval 8-grams (lowercased, punctuation-stripped words, as
in decontamination) are held exactly in a set, the corpus is streamed once in parallel, and the
report gives the percentage of eval 8-grams found, the mean per-document overlap, and the
percentage of eval documents touched by at least one shared 8-gram.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.data.clean.decontaminate import contains, iter_eval_texts, ngram_keys
from gptkit.data.clean.text import normalise_for_ngrams
from gptkit.errors import UsageError
from gptkit.exec import ExecutorConfig, Phase, executor_for
from gptkit.io.shards import IssueLog, document_files, iter_documents
from gptkit.reporting import NULL_REPORTER, Reporter

_eval_keys = np.zeros(0, dtype=np.uint64)


@dataclass
class OverlapConfig:
    """The ``[overlap]`` table of a recipe (``gptkit data overlap --recipe``)."""

    ngram: int = 8  # n-gram length (GPT-2 used 8, GPT-3 13)
    report: Path | None = None  # also write the report as JSON here


@dataclass
class EvalSet:
    keys_per_doc: list[np.ndarray]  # sorted distinct n-gram keys of each eval document

    @property
    def all_keys(self) -> np.ndarray:
        parts = [k for k in self.keys_per_doc if len(k)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


def load_eval_set(path: str | Path, n: int) -> EvalSet:
    return EvalSet([np.unique(ngram_keys(normalise_for_ngrams(text), n)) for text in iter_eval_texts(path)])


def _init(keys: np.ndarray) -> None:
    global _eval_keys
    _eval_keys = keys


def _scan(args: tuple[str, int]) -> dict[str, Any]:
    """Eval keys found in one corpus file, its document count, and its input issues."""
    path, n = args
    issues = IssueLog(keep=5)
    found = []
    docs = 0
    for doc in iter_documents(path, issues):
        docs += 1
        keys = ngram_keys(normalise_for_ngrams(doc["text"]), n)
        found.append(keys[contains(_eval_keys, keys)])
    keys = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)
    return {"found": keys.tolist(), "documents": docs, "issues": issues.to_json()}


def overlap_report(
    corpus: list[str | Path], eval_file: str | Path, n: int = 8, workers: int = 1,
    reporter: Reporter = NULL_REPORTER, executor: ExecutorConfig | None = None, work_dir: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Overlap of ``eval_file`` with the corpus files (see the module docstring). One task per
    corpus file; its result is a marker in ``work_dir`` (kept until the report is done, so a
    killed run resumes; Slurm's nodes need it on the shared filesystem), else in a temporary folder."""
    files = document_files(corpus)
    eval_set = load_eval_set(eval_file, n)
    keys = eval_set.all_keys
    digest = hashlib.sha256(keys.tobytes()).hexdigest()[:12]  # markers of another eval set or n never count
    ids = [f"overlap-{i:05d}-{digest}-{n}" for i in range(len(files))]
    with _task_folder(work_dir, executor) as work, reporter.task("overlap", total=len(files), unit="files") as bar:
        phase = Phase(_scan, [(str(f), n) for f in files], ids, work, setup=_init, setup_args=(keys,), name="overlap")
        results = executor_for(workers if len(files) > 1 else 1, executor).run(phase, lambda *_: bar.advance())
    parts = [np.asarray(results[tid]["found"], dtype=np.uint64) for tid in ids]
    found = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)
    per_doc = [contains(found, k).mean() for k in eval_set.keys_per_doc if len(k)]
    touched = sum(1 for share in per_doc if share > 0)
    return {
        "eval_file": str(eval_file),
        "ngram": n,
        "corpus_files": len(files),
        "corpus_documents": sum(r["documents"] for r in results.values()),
        "corpus_issues": sum(r["issues"]["total"] for r in results.values()),
        "eval_documents": len(eval_set.keys_per_doc),
        "eval_ngrams": len(keys),
        "eval_ngrams_found": len(found),
        "ngram_overlap_pct": 100.0 * len(found) / len(keys) if len(keys) else 0.0,
        "mean_doc_overlap_pct": 100.0 * float(np.mean(per_doc)) if per_doc else 0.0,
        "eval_docs_touched_pct": 100.0 * touched / len(per_doc) if per_doc else 0.0,
    }


@contextmanager
def _task_folder(work_dir: Path | None, executor: ExecutorConfig | None) -> Iterator[Path]:
    """Where the scan tasks leave their markers; removed once every task has reported."""
    if work_dir is None:
        if executor is not None and executor.kind == "slurm":
            raise UsageError("data overlap --executor slurm needs --report: its tasks write beside it, on the shared filesystem")
        with tempfile.TemporaryDirectory(prefix="gptkit-overlap-") as tmp:
            yield Path(tmp)
        return
    yield work_dir
    shutil.rmtree(work_dir, ignore_errors=True)
