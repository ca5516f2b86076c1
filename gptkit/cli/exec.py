"""``gptkit exec array``: the entry point of the Slurm job arrays that ``--executor slurm`` submits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App

app = App(no_args_is_help=True, add_completion=False,
          help="Entry points of cluster jobs (written by --executor slurm).")


def register(root: typer.Typer) -> None:
    """Add ``exec`` to ``root``."""
    root.add_typer(app, name="exec", hidden=True)


@app.command()
def array(
    tasks_file: Annotated[Path, typer.Argument(help="A phase's task list (OUT/slurm/PHASE/tasks-tryK.pkl) written by --executor slurm.", show_default=False)],
    offset: Annotated[int, typer.Option("--offset", min=0, help="Task number of array index 0 (chunks of arrays).")] = 0,
) -> None:
    """Run task OFFSET + $SLURM_ARRAY_TASK_ID of a phase and write its completion marker.

    Written into the job scripts by --executor slurm; a task that already has a marker is skipped.

    Examples:

      SLURM_ARRAY_TASK_ID=3 gptkit exec array clean/slurm/filter/tasks-try0.pkl --offset 1000   # task 1003
    """
    from gptkit.exec.slurm import run_array_task

    typer.echo(f"done {run_array_task(tasks_file, offset)}")
