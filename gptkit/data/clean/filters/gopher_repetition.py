"""Gopher repetition filter (Rae et al. 2021, table A1), as datatrove's ``GopherRepetitionFilter``."""

from __future__ import annotations

import re
from collections import Counter

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


def top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent word n-gram (its length × its count)."""
    counts = Counter(zip(*(words[i:] for i in range(n)), strict=False))
    gram, count = counts.most_common(1)[0]
    return len(" ".join(gram)) * count


def duplicated_ngram_chars(words: list[str], n: int) -> int:
    """Characters in n-grams seen before, scanning greedily (a repeat skips its n words)."""
    seen: set[tuple[str, ...]] = set()
    chars = i = 0
    last = len(words) - n
    while i <= last:
        gram = tuple(words[i : i + n])
        if gram in seen:
            chars += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
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
        for n, frac in enumerate(cfg.top_ngram_char_fracs, start=2):
            if len(words) >= n and top_ngram_chars(words, n) / len(text) > frac:
                return f"top_{n}_gram"
        for n, frac in enumerate(cfg.dup_ngram_char_fracs, start=5):
            if duplicated_ngram_chars(words, n) / len(text) > frac:
                return f"duplicated_{n}_n_grams"
        return None
