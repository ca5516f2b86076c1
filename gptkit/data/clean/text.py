"""Text helpers shared by the filters, dedup and decontamination."""

from __future__ import annotations

import re
import unicodedata

#: A run of punctuation, or a word from its first to its last letter or digit (spaCy-like, regex speed).
_WORD_RE = re.compile(r"[^\w\s]+|\w(?:\S*\w)?")
_PUNCT_RE = re.compile(r"[^\w\s]|_")
_DIGITS_RE = re.compile(r"\d+(?:[.,]\d+)?")
_SPACE_RE = re.compile(r"\s+")
_MARKS_RE = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


_last_split: tuple[str, list[str]] = ("", [])


def split_words(text: str) -> list[str]:
    """Whitespace-separated words with leading and trailing punctuation split off (``"(end."`` →
    ``["(", "end", "."]``; URLs, dates and "don't" stay whole, as in spaCy). The result for the last
    text is remembered, as consecutive filters split the same text; do not modify it."""
    global _last_split
    if _last_split[0] is not text:
        _last_split = (text, _WORD_RE.findall(text))
    return _last_split[1]


def simplify(text: str) -> str:
    """datatrove's ``simplify_text``: lowercase, numbers → 0, punctuation → space, one space
    between words, diacritics removed. Used for MinHash shingles."""
    text = _DIGITS_RE.sub("0", text.lower())
    text = _SPACE_RE.sub(" ", _PUNCT_RE.sub(" ", text)).strip()
    if not text.isascii():
        text = _MARKS_RE.sub("", unicodedata.normalize("NFD", text))
    return text


def normalise_for_ngrams(text: str) -> list[str]:
    """GPT-3 appendix C words: lowercased, punctuation stripped, split on whitespace."""
    return _PUNCT_RE.sub("", text.lower()).split()


def word_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Like :func:`normalise_for_ngrams`, with each word's (start, end) in ``text``."""
    words, spans = [], []
    for m in re.finditer(r"\S+", text):
        w = _PUNCT_RE.sub("", m.group().lower())
        if w:
            words.append(w)
            spans.append(m.span())
    return words, spans


def whitespace_normalised(text: str) -> str:
    """Text with runs of whitespace as one space: the key of exact dedup."""
    return " ".join(text.split())


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
