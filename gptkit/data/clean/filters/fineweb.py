"""FineWeb's own quality rules, as datatrove's ``FineWebQualityFilter``."""

from __future__ import annotations

from gptkit.data.clean.config import FineWebConfig
from gptkit.data.clean.filters.gopher_repetition import find_duplicates
from gptkit.data.clean.text import split_words
from gptkit.io.shards import Document

#: Line-final characters that end a sentence (the common subset of datatrove's list).
TERMINAL_PUNCTUATION = tuple(".!?。！？．｡։۔।॥။።፧፨᙮᠃᠉‼‽⁇⁈⁉⸮")


class FineWebFilter:
    name = "fineweb"

    def __init__(self, cfg: FineWebConfig):
        self.cfg = cfg

    def __call__(self, doc: Document) -> str | None:
        cfg, text = self.cfg, doc["text"]
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "empty"
        ratio = sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / len(lines)
        if ratio < cfg.line_punct_thr and not (ratio == 0 and cfg.line_punct_exclude_zero):
            return "line_punct_ratio"
        if sum(len(line) <= cfg.short_line_length for line in lines) / len(lines) > cfg.short_line_thr:
            return "short_line_ratio"
        if find_duplicates(lines)[1] / max(1, len(text) - text.count("\n")) > cfg.char_duplicates_ratio:
            return "char_dup_ratio"
        if text.count("\n") / max(1, len(split_words(text))) > cfg.new_line_ratio:
            return "list_ratio"
        return None
