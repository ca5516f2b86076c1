"""Rich progress bars on a terminal: imported by :class:`gptkit.cli.ui.RichReporter` only when it
draws one, so that commands that draw none (``--help``, errors, logs) do not import rich.progress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

from gptkit.cli.ui import count_text
from gptkit.reporting import TaskHandle

if TYPE_CHECKING:
    from gptkit.cli.ui import RichReporter


def new_progress(console: Console) -> Progress:
    """Bars with the description, counts (``done/total unit``), percentage, elapsed time, eta and status."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _CountColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )


class _CountColumn(ProgressColumn):
    """``done/total unit``; byte counts in kB/MB/GB."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> str:
        return count_text(task.completed, task.total, task.fields.get("unit", ""))


class RichTask(TaskHandle):
    """One task's bar in the reporter's :class:`Progress`."""

    def __init__(self, progress: Progress, task_id: Any, owner: RichReporter):
        self.progress, self.task_id, self.owner = progress, task_id, owner

    def advance(self, n: float = 1) -> None:
        self.progress.advance(self.task_id, n)

    def update(self, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        status = "  ".join(f"{k} {v}" for k, v in fields.items())
        kwargs: dict[str, Any] = {"status": status} if fields else {}
        self.progress.update(self.task_id, completed=completed, total=total, **kwargs)

    def close(self) -> None:
        self.progress.stop_task(self.task_id)
        self.owner._closed(self)
