"""Gopher quality filter (Rae et al. 2021), as datatrove's ``GopherQualityFilter``."""

from __future__ import annotations

import re

from gptkit.data.clean.config import GopherQualityConfig
from gptkit.data.clean.text import split_words
from gptkit.io.shards import Document

_ALPHA = re.compile(r"[^\W\d_]")


class GopherQualityFilter:
    name = "gopher_quality"

    def __init__(self, cfg: GopherQualityConfig):
        self.cfg = cfg
        self.stop_words = set(cfg.stop_words)

    def __call__(self, doc: Document) -> str | None:
        cfg, text = self.cfg, doc["text"]
        words = split_words(text)
        content = [w for w in words if w[0].isalnum()]  # split_words: a word or a run of symbols
        if len(content) < cfg.min_doc_words:
            return "gopher_short_doc"
        if len(content) > cfg.max_doc_words:
            return "gopher_long_doc"
        mean_len = sum(map(len, content)) / len(content)
        if mean_len < cfg.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if mean_len > cfg.max_avg_word_length:
            return "gopher_above_avg_threshold"
        n_words = len(words)
        if text.count("#") / n_words > cfg.max_symbol_word_ratio:
            return "gopher_too_many_hashes"
        if (text.count("...") + text.count("…")) / n_words > cfg.max_symbol_word_ratio:
            return "gopher_too_many_ellipsis"
        lines = text.splitlines()
        bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
        if bullets / len(lines) > cfg.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        ellipsis = sum(line.rstrip().endswith(("...", "…")) for line in lines)
        if ellipsis / len(lines) > cfg.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis"
        alpha = sum(map(bool, map(_ALPHA.search, words)))
        if alpha / n_words < cfg.max_non_alpha_words_ratio:
            return "gopher_below_alpha_threshold"
        if len(self.stop_words.intersection(words)) < cfg.min_stop_words:
            return "gopher_enough_stop_words"
        return None
