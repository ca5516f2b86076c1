"""GPT-2-style n-gram overlap between a training corpus and an eval set (``gptkit data overlap``).

GPT-2 (section 4) reported the share of each test set's 8-grams found in WebText, using Bloom
filters over normalised words. Here the eval 8-grams (lowercased, punctuation-stripped words, as
in decontamination) are held exactly in a set, the corpus is streamed once in parallel, and the
report gives the percentage of eval 8-grams found, the mean per-document overlap, and the
percentage of eval documents touched by at least one shared 8-gram.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.data.clean.decontaminate import contains, iter_eval_texts, ngram_keys
from gptkit.data.clean.text import normalise_for_ngrams
from gptkit.exec import ExecutorConfig, executor_for
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


def _scan(args: tuple[str, int]) -> tuple[np.ndarray, int, dict]:
    """Eval keys found in one corpus file, its document count, and its input issues."""
    path, n = args
    issues = IssueLog(keep=5)
    found = []
    docs = 0
    for doc in iter_documents(path, issues):
        docs += 1
        keys = ngram_keys(normalise_for_ngrams(doc["text"]), n)
        found.append(keys[contains(_eval_keys, keys)])
    return (np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)), docs, issues.to_json()


def overlap_report(
    corpus: list[str | Path], eval_file: str | Path, n: int = 8, workers: int = 1,
    reporter: Reporter = NULL_REPORTER, executor: ExecutorConfig | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Overlap of ``eval_file`` with the corpus files (see the module docstring)."""
    files = document_files(corpus)
    eval_set = load_eval_set(eval_file, n)
    keys = eval_set.all_keys
    found_parts = []
    docs = 0
    issues = 0
    jobs = [(str(f), n) for f in files]
    with reporter.task("overlap", total=len(files), unit="files") as bar:
        runner = executor_for(workers if len(files) > 1 else 1, executor)
        for part, d, iss in runner.imap(_scan, jobs, _init, (keys,)):
            found_parts.append(part)
            docs += d
            issues += iss["total"]
            bar.advance()
    found = np.unique(np.concatenate(found_parts)) if found_parts else np.zeros(0, dtype=np.uint64)
    per_doc = [contains(found, k).mean() for k in eval_set.keys_per_doc if len(k)]
    touched = sum(1 for share in per_doc if share > 0)
    return {
        "eval_file": str(eval_file),
        "ngram": n,
        "corpus_files": len(files),
        "corpus_documents": docs,
        "corpus_issues": issues,
        "eval_documents": len(eval_set.keys_per_doc),
        "eval_ngrams": len(keys),
        "eval_ngrams_found": len(found),
        "ngram_overlap_pct": 100.0 * len(found) / len(keys) if len(keys) else 0.0,
        "mean_doc_overlap_pct": 100.0 * float(np.mean(per_doc)) if per_doc else 0.0,
        "eval_docs_touched_pct": 100.0 * touched / len(per_doc) if per_doc else 0.0,
    }
