"""Every clean step, declared once: its name, its kind, when it is on, and how it is built.

:data:`REGISTRY` lists the steps in their default order (FineWeb's order, then the corpus-wide
steps); ``clean.steps`` in a recipe reorders them or leaves some out, and the phases, stats.json
and the funnel follow that order. Two kinds of step exist because of when they can run:

- ``document`` steps look at one document at a time (phase 1, ``filter-NNNNN`` tasks): a callable
  ``step(doc) -> reason | None`` (see :mod:`gptkit.data.clean.filters`).
- ``shard`` steps need what phase 2 learnt about the whole corpus (duplicates, common eval
  n-grams) and run in phase 3 (``write-NNNNN`` tasks): a callable
  ``step(doc, ctx) -> (reason | None, documents)`` where ``ctx`` is the task's
  :class:`ShardContext` and ``documents`` replace ``doc`` (a document may be cut into pieces).

So every ``document`` step comes before every ``shard`` step. Adding a step: a module with the
step class (and its config dataclass in :mod:`gptkit.data.clean.config`), plus one line here.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from gptkit.data.clean.config import CleanConfig


@dataclass(frozen=True)
class Step:
    name: str  # the name in stats.json, removed/<name>/ and clean.steps
    kind: Literal["document", "shard"]
    table: str  # the CleanConfig field (recipe table [clean.<table>]) the step is built from
    builder: str  # "module:Class"; imported only when the step is on
    is_on: Callable[[Any], bool] = lambda table: table.enabled  # the step's own switch in its table

    def build(self, cfg: CleanConfig) -> Any:
        module, _, name = self.builder.partition(":")
        return getattr(importlib.import_module(module), name)(getattr(cfg, self.table))


_F = "gptkit.data.clean.filters"
REGISTRY: tuple[Step, ...] = (
    Step("url_filter", "document", "url_filter", f"{_F}.url:UrlFilter"),
    Step("language", "document", "language", f"{_F}.language:LanguageFilter"),
    Step("gopher_repetition", "document", "gopher_repetition", f"{_F}.gopher_repetition:GopherRepetitionFilter"),
    Step("gopher_quality", "document", "gopher_quality", f"{_F}.gopher_quality:GopherQualityFilter"),
    Step("c4", "document", "c4", f"{_F}.c4:C4Filter"),
    Step("fineweb", "document", "fineweb", f"{_F}.fineweb:FineWebFilter"),
    Step("exact_dedup", "shard", "dedup", "gptkit.data.clean.dedup:ExactDuplicateStep", lambda t: t.exact),
    Step("minhash_dedup", "shard", "dedup", "gptkit.data.clean.dedup:NearDuplicateStep", lambda t: t.minhash),
    Step("decontaminate", "shard", "decontaminate", "gptkit.data.clean.decontaminate:DecontaminateStep",
         lambda t: bool(t.eval_files)),  # fmt: skip
    Step("pii", "shard", "pii", "gptkit.data.clean.pii:PiiStep"),
)
BY_NAME = {step.name: step for step in REGISTRY}
DEFAULT_ORDER = tuple(BY_NAME)


def check_order(names: list[str]) -> None:
    """Raise ValueError unless ``names`` are known, distinct, and document steps come first."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"steps: unknown step {unknown[0]!r} (known: {', '.join(DEFAULT_ORDER)})")
    if len(set(names)) != len(names):
        raise ValueError("steps: a step is listed twice")
    kinds = [BY_NAME[n].kind for n in names]
    if "shard" in kinds and "document" in kinds[kinds.index("shard") :]:
        raise ValueError("steps: document steps (filters) must all come before the corpus-wide steps "
                         "(exact_dedup, minhash_dedup, decontaminate, pii)")  # fmt: skip


def active(cfg: CleanConfig, kind: str | None = None) -> list[Step]:
    """The steps that run, in the config's order: listed in ``clean.steps`` and switched on."""
    steps = [BY_NAME[n] for n in cfg.steps if BY_NAME[n].is_on(getattr(cfg, BY_NAME[n].table))]
    return [s for s in steps if kind is None or s.kind == kind]


def is_active(cfg: CleanConfig, name: str) -> bool:
    step = BY_NAME[name]
    return name in cfg.steps and step.is_on(getattr(cfg, step.table))


@dataclass
class ShardContext:
    """What a shard step knows about the document it is given (set per document by phase 3)."""

    decision: np.ndarray  # the dedup decision of each document of the task (dedup.KEEP, ...)
    dirty: set[int]  # documents of the task with eval n-gram hits
    eval_keys: np.ndarray  # the eval n-grams that count (the too-common ones removed)
    position: int = 0  # the document's number within the task's filtered documents
    counts: Counter = field(default_factory=Counter)  # what the steps did, for the task's marker
