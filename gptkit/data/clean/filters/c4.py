"""C4 line and page rules (Raffel et al. 2020), as datatrove's ``C4QualityFilter``.

Lines are dropped (too-long word, no terminal punctuation if asked, too few words, "javascript",
cookie/policy phrases) and citation markers removed; the page is dropped for "lorem ipsum", a
curly bracket, or fewer than ``min_num_sentences`` sentences left.
"""

from __future__ import annotations

import re

from gptkit.data.clean.config import C4Config
from gptkit.io.shards import Document

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
#: A sentence ends at terminal punctuation followed by space or the end (punkt-like, no model).
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)")


def count_sentences(line: str) -> int:
    return max(1, len(_SENTENCE_END.findall(line)))


class C4Filter:
    name = "c4"

    def __init__(self, cfg: C4Config):
        self.cfg = cfg

    def __call__(self, doc: Document) -> str | None:
        cfg = self.cfg
        sentences = 0
        kept = []
        for line in doc["text"].splitlines():
            line = line.strip()
            words = line.split()
            too_long = cfg.max_word_length != -1 and len(line) > cfg.max_word_length
            if too_long and any(len(w) > cfg.max_word_length for w in words):
                continue
            if cfg.remove_citations and "[" in line:
                line = CITATION.sub("", line)
            if cfg.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith("...")):
                continue
            if len(words) < cfg.min_words_per_line:
                continue
            lower = line.lower()
            if cfg.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum"
            if cfg.filter_javascript and "javascript" in lower:
                continue
            if cfg.filter_curly_bracket and "{" in line:
                return "curly_bracket"
            if cfg.filter_policy and any(p in lower for p in POLICY_PHRASES):
                continue
            if cfg.min_num_sentences != -1:
                sentences += count_sentences(line)
            kept.append(line)
        if sentences < cfg.min_num_sentences:
            return "too_few_sentences"
        doc["text"] = "\n".join(kept).strip()
        return None
