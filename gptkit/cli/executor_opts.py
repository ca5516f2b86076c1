"""The ``--executor`` options every parallel data command shares, and the ``[executor]`` recipe table."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from gptkit.exec.config import ExecutorConfig

_PANEL = "Executor (where the tasks run)"


def _opt(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=_PANEL, show_default=False)


#: option name → (config key, annotated type); all default to None (= recipe, then ExecutorConfig's default)
OPTIONS: dict[str, tuple[str, Any]] = {
    "executor": ("kind", Annotated[Literal["local", "ray", "slurm"] | None, _opt(
        "--executor", help="local processes (default), a Ray cluster, or Slurm job arrays.")]),
    "ray_address": ("ray_address", Annotated[str | None, _opt(
        "--ray-address", help="Ray: 'auto' or HOST:PORT of a running cluster (default: start one for this run).")]),
    "cpus_per_task": ("cpus_per_task", Annotated[int | None, _opt(
        "--cpus-per-task", help="Ray and Slurm: CPUs reserved per task (default 1).")]),
    "memory_per_task": ("memory_per_task", Annotated[str | None, _opt(
        "--memory-per-task", help="Ray and Slurm: memory reserved per task, e.g. 2G.")]),
    "partition": ("partition", Annotated[str | None, _opt("--partition", help="Slurm partition.")]),
    "time_limit": ("time", Annotated[str | None, _opt("--time", help="Slurm time limit per array task, e.g. 04:00:00.")]),
    "mem_per_cpu": ("mem_per_cpu", Annotated[str | None, _opt("--mem-per-cpu", help="Slurm --mem-per-cpu, e.g. 4G.")]),
    "dry_run": ("dry_run", Annotated[bool | None, _opt(
        "--dry-run", help="Slurm: print every phase's job scripts and the sbatch commands that chain them (afterok); submit nothing.")]),
}  # fmt: skip


def with_executor_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a Typer command the executor options; it receives them as its ``executor_options`` dict."""
    sig = inspect.signature(command, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "executor_options"]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=tp)
             for name, (_, tp) in OPTIONS.items()]  # fmt: skip

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        chosen = {key: kwargs.pop(name) for name, (key, _) in OPTIONS.items()}
        return command(*args, **kwargs, executor_options=chosen)

    wrapper.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params + extra}
    return wrapper


def resolve_executor(
    recipe: Path | None, options: dict[str, Any], overrides: list[str] | None
) -> tuple[ExecutorConfig, list[str]]:
    """The executor config (defaults < ``[executor]`` in the recipe < options < ``--set executor.*``)
    and the ``--set`` items left for the stage."""
    from gptkit.config import resolve
    from gptkit.exec.config import ExecutorConfig

    overrides = overrides or []
    mine = [item for item in overrides if item.strip().startswith("executor.")]
    config = resolve(ExecutorConfig, "executor", recipe, options, mine)
    return config, [item for item in overrides if item not in mine]
