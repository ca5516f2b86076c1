"""Console, progress bars and shared option types for the CLI."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import filesize
from rich.console import Console

from gptkit.reporting import Reporter, TaskHandle

if TYPE_CHECKING:
    from rich.progress import Progress


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
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a config key: SECTION.KEY=VALUE, as in the examples below (repeatable)."),
]
WhichOpt = Annotated[
    str | None,
    typer.Option("--which", help="Checkpoint of a training run dir: 'latest' or 'best' (lowest validation loss)."),
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", min=1, help="Worker processes (default: all cores).")
]


def count_text(completed: float, total: float | None, unit: str) -> str:
    if unit == "B":
        return f"{filesize.decimal(int(completed))}/{'?' if total is None else filesize.decimal(int(total))}"
    return f"{completed:,.0f}/{'?' if total is None else f'{total:,.0f}'} {unit}".rstrip()


class _PlainTask(TaskHandle):
    """Progress as plain lines, for logs (Slurm, nohup, CI) where a bar would show only at the end:
    ``train 120/1,500 steps  loss 5.41  lr 1.90e-03  tok/s 9,400  mfu 61.0%  eta 3m10s``.

    A line is printed for each update that carries status fields, at most one per ``interval``
    seconds, and the last state when the task closes (unless that line was just printed).
    """

    def __init__(self, console: Console, description: str, total: float | None, unit: str, interval: float):
        self.console, self.description, self.total, self.unit, self.interval = console, description, total, unit, interval
        self.completed, self.fields, self.pending = 0.0, "", False
        self.first: tuple[float, float] | None = None  # (completed, time) when counting began (resumes start midway)
        self.printed_at = -math.inf

    def advance(self, n: float = 1) -> None:
        self.update(completed=self.completed + n)

    def update(self, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        self.total = self.total if total is None else total
        self.completed = self.completed if completed is None else completed
        if self.first is None:
            self.first = (self.completed, time.monotonic())
        self.pending = True
        if fields:
            self.fields = "  ".join(f"{k} {v}" for k, v in fields.items())
            if time.monotonic() - self.printed_at >= self.interval:
                self._print()

    def close(self) -> None:
        if self.pending:
            self._print()

    def _print(self) -> None:
        parts = [f"{self.description} {count_text(self.completed, self.total, self.unit)}", self.fields, self._eta()]
        self.console.print("  ".join(p for p in parts if p), markup=False, highlight=False)
        self.printed_at, self.pending = time.monotonic(), False

    def _eta(self) -> str:
        done = self.completed - self.first[0] if self.first else 0
        if self.total is None or done <= 0:
            return ""
        seconds = (self.total - self.completed) * (time.monotonic() - self.first[1]) / done
        minutes, secs = divmod(round(seconds), 60)
        return f"eta {minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"eta {minutes}m{secs:02d}s"


class RichReporter(Reporter):
    """Draws one rich progress bar per open task on stderr; plain lines when stderr is not a
    terminal (at most one per ``plain_interval`` seconds and task, see :class:`_PlainTask`);
    nothing when --quiet."""

    def __init__(self, console: Console = err, plain_interval: float = 10.0):
        self.console = console
        self.plain_interval = plain_interval
        self.progress: Progress | None = None
        self.open = 0

    def task(self, description: str, total: float | None = None, unit: str = "") -> TaskHandle:
        if state.quiet:
            return TaskHandle()
        if not self.console.is_terminal:
            return _PlainTask(self.console, description, total, unit, self.plain_interval)
        from gptkit.cli.bars import RichTask, new_progress  # rich.progress: only when a bar is drawn

        if self.progress is None:
            self.progress = new_progress(self.console, count_text)
            self.progress.start()
        self.open += 1
        task_id = self.progress.add_task(description, total=total, status="", unit=unit)
        return RichTask(self.progress, task_id, self._closed)

    def _closed(self, task: TaskHandle) -> None:
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
