"""Progress reporting that stages call without knowing who listens.

Stages take a :class:`Reporter` and open tasks on it; the CLI passes one that draws rich
progress bars, library users and tests get :data:`NULL_REPORTER` (silent) by default.
"""

from __future__ import annotations

from typing import Any


class TaskHandle:
    """One progress line: ``advance`` it, ``update`` its total or its status fields."""

    def advance(self, n: float = 1) -> None:  # noqa: B027 - silent by default
        pass

    def update(self, completed: float | None = None, total: float | None = None, **fields: Any) -> None:  # noqa: B027
        pass

    def __enter__(self) -> TaskHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027
        pass


class Reporter:
    """Silent reporter; subclasses draw progress (``gptkit.cli.ui.RichReporter``)."""

    def task(self, description: str, total: float | None = None, unit: str = "") -> TaskHandle:
        return TaskHandle()

    def log(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass


NULL_REPORTER = Reporter()
