"""Rich progress bars on a terminal: imported by :class:`gptkit.cli.ui.RichReporter` only when it
draws one, so that commands that draw none (``--help``, errors, logs) do not import rich.progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from gptkit.reporting import TaskHandle

CountText = Callable[[float, float | None, str], str]


def new_progress(console: Console, count_text: CountText) -> Progress:
    """Bars with the description, counts (``count_text(done, total, unit)``), percentage, elapsed
    time, eta and status."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _CountColumn(count_text),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )


class _CountColumn(ProgressColumn):
    """A task's counts as ``count_text`` writes them."""

    def __init__(self, count_text: CountText) -> None:
        super().__init__(table_column=Column(no_wrap=True))
        self.count_text = count_text

    def render(self, task: Task) -> str:
        return self.count_text(task.completed, task.total, task.fields.get("unit", ""))


class RichTask(TaskHandle):
    """One task's bar in a :class:`Progress`; ``on_close(self)`` when it is closed."""

    def __init__(self, progress: Progress, task_id: Any, on_close: Callable[[TaskHandle], None]):
        self.progress, self.task_id, self.on_close = progress, task_id, on_close

    def advance(self, n: float = 1) -> None:
        self.progress.advance(self.task_id, n)

    def update(self, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        status = "  ".join(f"{k} {v}" for k, v in fields.items())
        kwargs: dict[str, Any] = {"status": status} if fields else {}
        self.progress.update(self.task_id, completed=completed, total=total, **kwargs)

    def close(self) -> None:
        self.progress.stop_task(self.task_id)
        self.on_close(self)
