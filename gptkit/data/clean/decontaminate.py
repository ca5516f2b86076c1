"""Eval-set decontamination exactly as GPT-3 appendix C (and lm-eval's ``Janitor``).

Words are lowercased, punctuation-stripped, whitespace-separated tokens. Every 13-gram a training
document shares with an eval set is a hit; the hit plus ``window`` (200) characters on each side
is cut out, overlapping cuts are merged, and the document falls apart into the pieces between
cuts. Pieces shorter than ``min_piece_chars`` (200) are dropped; a document split into more than
``max_pieces`` (10) pieces is dropped whole; 13-grams found in more than ``max_train_docs`` (10)
training documents are ignored (they are common phrases, not leaked test data). Each kept piece
becomes a document of its own, with id ``<id>#<k>``.

Eval files: JSON lines (``text`` of each record, e.g. LAMBADA), CoQA-style JSON (each story and
its questions and answers) or plain text (each non-empty line is one eval document).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
import xxhash

from gptkit.data.clean.config import DecontaminateConfig
from gptkit.data.clean.text import normalise_for_ngrams, word_spans
from gptkit.errors import InputError
from gptkit.io.shards import Document, IssueLog, is_jsonl, iter_documents, iter_lines

if TYPE_CHECKING:
    from gptkit.data.clean.steps import ShardContext


def iter_eval_texts(path: str | Path, issues: IssueLog | None = None) -> Iterator[str]:
    """The texts of one eval file (LAMBADA jsonl, CoQA json, or plain text lines)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("eval file not found", path)
    issues = issues if issues is not None else IssueLog()
    name = path.name.lower()
    if name.endswith(".json"):
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            data = None  # JSON lines named .json
        if isinstance(data, dict | list):
            yield from _json_texts(data)
            return
    if is_jsonl(path):
        for doc in iter_documents(path, issues):
            yield doc["text"]
        return
    for _, raw in iter_lines(path, issues):
        line = raw.decode("utf-8", "replace").strip()
        if line:
            yield line


def _json_texts(data: object) -> Iterator[str]:
    """CoQA (``{"data": [{"story", "questions", "answers"}]}``) or, for other JSON, every string."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        for item in data["data"]:
            if isinstance(item, dict) and "story" in item:
                yield str(item["story"])
                qa = [t.get("input_text", "") for key in ("questions", "answers") for t in item.get(key, [])]
                yield " ".join(str(x) for x in qa)
                continue
            yield from _json_texts(item)
        return
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for v in data.values():
            yield from _json_texts(v)
    elif isinstance(data, list):
        for v in data:
            yield from _json_texts(v)


_BASE = np.uint64(0x100000001B3)


def ngram_keys(words: list[str], n: int) -> np.ndarray:
    """A 64-bit key per word n-gram: xxh3 of each word, combined polynomially (mod 2^64)."""
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    h = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode("utf-8", "surrogatepass")) for w in words), dtype=np.uint64, count=len(words)
    )
    m = len(words) - n + 1
    keys = h[:m].copy()
    for j in range(1, n):
        keys = keys * _BASE + h[j : j + m]
    return keys


def contains(index: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``keys`` are in the sorted array ``index``."""
    if len(index) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(index, keys), len(index) - 1)
    return index[pos] == keys


def build_eval_index(paths: list[str], n: int, issues: IssueLog | None = None) -> np.ndarray:
    """Sorted unique keys of every word n-gram of the eval files (8 bytes per n-gram)."""
    parts = [ngram_keys(normalise_for_ngrams(text), n) for path in paths for text in iter_eval_texts(path, issues)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


class ContaminationScanner:
    """Finds eval n-grams in training text."""

    def __init__(self, eval_keys: np.ndarray, n: int):
        self.eval_keys = eval_keys
        self.n = n

    def hits(self, text: str) -> np.ndarray:
        """Sorted unique keys of the eval n-grams that ``text`` contains."""
        keys = ngram_keys(normalise_for_ngrams(text), self.n)
        return np.unique(keys[contains(self.eval_keys, keys)])


@dataclass
class Decontaminated:
    pieces: list[str]  # kept pieces (empty: the document is dropped)
    hits: int  # n-gram hits that were cut
    reason: str | None  # why the document was dropped, if it was


def cut_contamination(text: str, keys: np.ndarray, cfg: DecontaminateConfig) -> Decontaminated:
    """Remove every hit of ``keys`` (sorted n-gram keys) ± ``cfg.window`` characters and split
    ``text`` into pieces."""
    words, spans = word_spans(text)
    n = cfg.ngram
    cuts: list[list[int]] = []
    hit_positions = np.flatnonzero(contains(keys, ngram_keys(words, n))).tolist()
    hits = len(hit_positions)
    for i in hit_positions:
        start = max(0, spans[i][0] - cfg.window)
        end = min(len(text), spans[i + n - 1][1] + cfg.window)
        if cuts and start <= cuts[-1][1]:
            cuts[-1][1] = max(cuts[-1][1], end)
        else:
            cuts.append([start, end])
    if not cuts:
        return Decontaminated([text], 0, None)
    bounds = [0] + [x for cut in cuts for x in cut] + [len(text)]
    pieces = [text[a:b] for a, b in zip(bounds[::2], bounds[1::2], strict=True)]
    pieces = [p for p in pieces if p.strip()]
    if len(pieces) > cfg.max_pieces:
        return Decontaminated([], hits, "too_many_pieces")
    kept = [p.strip() for p in pieces if len(p.strip()) >= cfg.min_piece_chars]
    return Decontaminated(kept, hits, None if kept else "no_piece_left")


class DecontaminateStep:
    """The shard step: cut the eval n-grams out of the documents phase 1 found them in."""

    name = "decontaminate"

    def __init__(self, cfg: DecontaminateConfig):
        self.cfg = cfg

    def __call__(self, doc: Document, ctx: ShardContext) -> tuple[str | None, list[Document]]:
        if ctx.position not in ctx.dirty:
            return None, [doc]
        result = cut_contamination(doc["text"], ctx.eval_keys, self.cfg)
        if result.reason is not None:
            return result.reason, []
        if result.hits == 0:
            return None, [doc]
        return None, [
            {"id": f"{doc['id']}#{k}", "text": text, "metadata": {**doc["metadata"], "decontaminated": result.hits}}
            for k, text in enumerate(result.pieces)
        ]
