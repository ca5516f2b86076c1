"""Document filters with datatrove's names, reasons and default thresholds.

A filter is a callable ``filter(doc) -> reason | None``: ``None`` keeps the document, a string
names why it is dropped (datatrove's reason names). A filter may rewrite ``doc["text"]``
(C4 removes lines) or add metadata (language id).
"""

from __future__ import annotations

from typing import Protocol

from gptkit.io.shards import Document


class Filter(Protocol):
    name: str

    def __call__(self, doc: Document) -> str | None: ...
