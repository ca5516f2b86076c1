"""Gopher repetition filter (Rae et al. 2021, table A1), as datatrove's ``GopherRepetitionFilter``."""

from __future__ import annotations

import re

import numpy as np

from gptkit.data.clean.config import GopherRepetitionConfig
from gptkit.data.clean.text import split_words
from gptkit.io.shards import Document

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(number of repeated items, characters in repeated items), first occurrences excluded."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


class NGrams:
    """Word n-grams of one text as 64-bit keys (numpy), so repetition counts avoid Python tuples.

    A word's id is its (cached) Python string hash; an n-gram key is a polynomial hash of its ids
    (mod 2^64). Keys are only compared within one document, so the per-process hash seed does not
    matter. Character lengths use prefix sums of word lengths.
    """

    _BASE = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, words: list[str]):
        self.ids = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
        self.cum = np.concatenate([[0], np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)))])
        self._keys = {1: self.ids}

    def keys(self, n: int) -> np.ndarray:
        """Key of the n-gram starting at each position (length ``len(words) - n + 1``)."""
        if n not in self._keys:
            prev = self.keys(n - 1)
            self._keys[n] = prev[:-1] * self._BASE + self.ids[n - 1 :]
        return self._keys[n]

    def chars(self, n: int) -> np.ndarray:
        """Characters in the words of each n-gram (no spaces)."""
        return self.cum[n:] - self.cum[:-n]


def top_ngram_chars(grams: NGrams, n: int) -> int:
    """Characters covered by the most frequent n-gram (joined with spaces, × its count); ties go
    to the n-gram seen first, as ``Counter.most_common``."""
    keys = grams.keys(n)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    best = first[counts == counts.max()].min()
    return int(grams.chars(n)[best] + n - 1) * int(counts.max())


def duplicated_ngram_chars(grams: NGrams, n: int) -> int:
    """Characters in n-grams seen before, scanning greedily (a repeat skips its n words and only
    visited n-grams count as seen), as datatrove's ``find_all_duplicate``."""
    keys = grams.keys(n)
    if len(keys) == 0:
        return 0
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] > 1)  # n-grams that occur once never count: skip them
    lengths = grams.chars(n)
    seen: set[int] = set()
    chars = i = 0
    for p, key in zip(repeated.tolist(), keys[repeated].tolist(), strict=True):
        if p < i:  # inside a repeat that was skipped
            continue
        if key in seen:
            chars += int(lengths[p])
            i = p + n
        else:
            seen.add(key)
            i = p + 1
    return chars


class GopherRepetitionFilter:
    name = "gopher_repetition"

    def __init__(self, cfg: GopherRepetitionConfig):
        self.cfg = cfg

    def __call__(self, doc: Document) -> str | None:
        cfg, text = self.cfg, doc["text"]
        if not text:
            return "empty"
        paragraphs = _PARAGRAPHS.split(text.strip())
        n, chars = find_duplicates(paragraphs)
        if n / len(paragraphs) > cfg.dup_para_frac:
            return "dup_para_frac"
        if chars / len(text) > cfg.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = _LINES.split(text)
        n, chars = find_duplicates(lines)
        if n / len(lines) > cfg.dup_line_frac:
            return "dup_line_frac"
        if chars / len(text) > cfg.dup_line_char_frac:
            return "dup_line_char_frac"
        words = split_words(text)
        grams = NGrams(words)
        for n, frac in enumerate(cfg.top_ngram_char_fracs, start=2):
            if len(words) >= n and top_ngram_chars(grams, n) / len(text) > frac:
                return f"top_{n}_gram"
        for n, frac in enumerate(cfg.dup_ngram_char_fracs, start=5):
            if duplicated_ngram_chars(grams, n) / len(text) > frac:
                return f"duplicated_{n}_n_grams"
        return None
