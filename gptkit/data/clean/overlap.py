"""GPT-2-style n-gram overlap between a training corpus and an eval set (``gptkit data overlap``).

GPT-2 (section 4) reported the share of each test set's 8-grams found in WebText, using Bloom
filters over normalised words. Here the eval 8-grams (lowercased, punctuation-stripped words, as
in decontamination) are held exactly in a set, the corpus is streamed once in parallel, and the
report gives the percentage of eval 8-grams found, the mean per-document overlap, and the
percentage of eval documents touched by at least one shared 8-gram.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptkit.data.clean.decontaminate import iter_eval_texts, ngram_key
from gptkit.data.clean.text import normalise_for_ngrams
from gptkit.io.shards import IssueLog, expand_inputs, iter_documents
from gptkit.reporting import NULL_REPORTER, Reporter

_eval_keys: frozenset[int] = frozenset()


@dataclass
class EvalSet:
    keys_per_doc: list[list[int]]  # distinct n-gram keys of each eval document

    @property
    def all_keys(self) -> frozenset[int]:
        return frozenset(k for keys in self.keys_per_doc for k in keys)


def load_eval_set(path: str | Path, n: int) -> EvalSet:
    docs = []
    for text in iter_eval_texts(path):
        words = normalise_for_ngrams(text)
        docs.append(sorted({ngram_key(words[i : i + n]) for i in range(len(words) - n + 1)}))
    return EvalSet(docs)


def _init(keys: frozenset[int]) -> None:
    global _eval_keys
    _eval_keys = keys


def _scan(args: tuple[str, int]) -> tuple[set[int], int, dict]:
    """Eval keys found in one corpus file, its document count, and its input issues."""
    path, n = args
    issues = IssueLog(keep=5)
    found: set[int] = set()
    docs = 0
    for doc in iter_documents(path, issues):
        docs += 1
        words = normalise_for_ngrams(doc["text"])
        for i in range(len(words) - n + 1):
            key = ngram_key(words[i : i + n])
            if key in _eval_keys:
                found.add(key)
    return found, docs, issues.to_json()


def overlap_report(
    corpus: list[str | Path], eval_file: str | Path, n: int = 8, workers: int = 1,
    reporter: Reporter = NULL_REPORTER,
) -> dict[str, Any]:  # fmt: skip
    """Overlap of ``eval_file`` with the corpus files (see the module docstring)."""
    from gptkit.data.clean.pipeline import INPUT_SUFFIXES

    files = expand_inputs(corpus, INPUT_SUFFIXES)
    eval_set = load_eval_set(eval_file, n)
    keys = eval_set.all_keys
    found: set[int] = set()
    docs = 0
    issues = 0
    jobs = [(str(f), n) for f in files]
    with reporter.task("overlap", total=len(files), unit="files") as bar:
        if workers <= 1 or len(files) <= 1:
            _init(keys)
            results = map(_scan, jobs)
            for part, d, iss in results:
                found |= part
                docs += d
                issues += iss["total"]
                bar.advance()
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init, initargs=(keys,)) as pool:
                for part, d, iss in pool.map(_scan, jobs):
                    found |= part
                    docs += d
                    issues += iss["total"]
                    bar.advance()
    per_doc = [len(found.intersection(k)) / len(k) for k in eval_set.keys_per_doc if k]
    touched = sum(1 for k in eval_set.keys_per_doc if k and found.intersection(k))
    return {
        "eval_file": str(eval_file),
        "ngram": n,
        "corpus_files": len(files),
        "corpus_documents": docs,
        "corpus_issues": issues,
        "eval_documents": len(eval_set.keys_per_doc),
        "eval_ngrams": len(keys),
        "eval_ngrams_found": len(found),
        "ngram_overlap_pct": 100.0 * len(found) / len(keys) if keys else 0.0,
        "mean_doc_overlap_pct": 100.0 * sum(per_doc) / len(per_doc) if per_doc else 0.0,
        "eval_docs_touched_pct": 100.0 * touched / len(per_doc) if per_doc else 0.0,
    }
