"""Console, progress bars and shared option types for the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import filesize
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

from gptkit.reporting import Reporter, TaskHandle


@dataclass
class CliState:
    verbose: bool = False
    quiet: bool = False


state = CliState()
#: Messages, progress and errors go to stderr; results (ids, tables asked for) to stdout.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


# Options shared by every stage command.
RecipeOpt = Annotated[
    Path | None,
    typer.Option("--recipe", "-r", help="TOML recipe; its table for this stage sets the config."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override any config key, e.g. --set train.lr=3e-4 (repeatable)."),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", min=1, help="Worker processes (default: all cores).")
]


class _CountColumn(ProgressColumn):
    """``done/total unit``; byte counts in kB/MB/GB."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> str:
        unit = task.fields.get("unit", "")
        if unit == "B":
            total = "?" if task.total is None else filesize.decimal(int(task.total))
            return f"{filesize.decimal(int(task.completed))}/{total}"
        total = "?" if task.total is None else f"{task.total:,.0f}"
        return f"{task.completed:,.0f}/{total} {unit}".rstrip()


class _RichTask(TaskHandle):
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


class RichReporter(Reporter):
    """Draws one rich progress bar per open task on stderr (nothing when --quiet)."""

    def __init__(self, console: Console = err):
        self.console = console
        self.progress: Progress | None = None
        self.open = 0

    def task(self, description: str, total: float | None = None, unit: str = "") -> TaskHandle:
        if state.quiet:
            return TaskHandle()
        if self.progress is None:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                _CountColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[status]}"),
                console=self.console,
                transient=False,
            )
            self.progress.start()
        self.open += 1
        return _RichTask(self.progress, self.progress.add_task(description, total=total, status="", unit=unit), self)

    def _closed(self, task: _RichTask) -> None:
        self.open -= 1
        if self.open == 0 and self.progress is not None:
            self.progress.stop()
            self.progress = None

    def log(self, message: str) -> None:
        if not state.quiet:
            self.console.print(message)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}")


def info(message: str) -> None:
    if not state.quiet:
        err.print(message)


def already_complete(out_dir: str | Path, same: str = "config and inputs", redo: str = "delete it to redo") -> None:
    """Say that a rerun found its output finished and reused it (what follows is that run's summary)."""
    info(f"already complete: {out_dir} (same {same}; {redo})")
