"""The executor interface, phases of tasks and their completion markers.

A killed run, started again, skips the tasks that have a marker and reruns the others; task
outputs must therefore be written atomically, before the marker. ``task_range`` lets several
machines sharing a filesystem each take a slice of a phase's tasks.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_json

COMPLETIONS = "completions"


def marker_path(out_dir: str | Path, task_id: str) -> Path:
    return Path(out_dir) / COMPLETIONS / f"{task_id}.json"


def read_marker(out_dir: str | Path, task_id: str) -> dict | None:
    path = marker_path(out_dir, task_id)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def parse_task_range(spec: str | None, n_tasks: int) -> range:
    """``"a:b"`` → ``range(a, b)`` (either side may be empty); None → all tasks."""
    if not spec:
        return range(n_tasks)
    start, sep, stop = spec.partition(":")
    try:
        if not sep:
            raise ValueError
        a = int(start) if start else 0
        b = int(stop) if stop else n_tasks
    except ValueError:
        raise UsageError(f"--task-range {spec!r}: expected START:STOP, e.g. 0:8") from None
    if not 0 <= a <= b <= n_tasks:
        raise UsageError(f"--task-range {spec!r}: out of bounds for {n_tasks} tasks")
    return range(a, b)


@dataclass(frozen=True)
class Phase:
    """One phase of a stage: ``fn`` over ``tasks`` (ids ``task_ids``), markers under ``out_dir``.

    ``fn``, ``setup`` and the tasks must pickle (module-level functions, plain data): another
    process or machine runs them. ``setup(*setup_args)`` runs once per process before its first
    task (per-process state such as a loaded model); results must be JSON-serialisable.
    """

    fn: Callable[[Any], dict]
    tasks: Sequence[Any]
    task_ids: Sequence[str]
    out_dir: str | Path
    setup: Callable[..., Any] | None = None
    setup_args: tuple = ()
    name: str = "tasks"  # names the phase in job names and script folders (Slurm)
    rerun: bool = False  # a stage's last step (merge the markers, write the manifest): runs every time

    def __post_init__(self) -> None:
        if len(self.tasks) != len(self.task_ids):
            raise ValueError("tasks and task_ids differ in length")


def run_task(fn: Callable[[Any], dict], task: Any, task_id: str, out_dir: str | Path, url: str | None = None) -> dict:
    """Run one task where the executor placed it, then write its completion marker.

    ``url``: ``out_dir`` is the working copy of that output URL (:mod:`gptkit.io.remote`), maybe
    on another machine than the one that started the stage: the task first pulls what earlier
    tasks published, and publishes its own files, marker last, when it has written them."""
    copy = None
    if url is not None:
        from gptkit.io.remote import RemoteOutput

        copy = RemoteOutput(url, Path(out_dir))
        copy.pull(manifest=False)
    result = fn(task)
    atomic_write_json(marker_path(out_dir, task_id), result)
    if copy is not None:
        copy.publish()
    return result


OnDone = Callable[[str, dict, bool], None]
Watch = Callable[[Phase], AbstractContextManager[OnDone | None]]


class Executor(ABC):
    """Runs phases of marker-tracked tasks, and ordered streams of work, somewhere.

    A new executor implements :meth:`execute` (and :meth:`imap`); skipping finished tasks and
    reporting them is shared here.
    """

    def run_stage(self, phases: Sequence[Phase], watch: Watch | None = None) -> list[dict[str, dict]]:
        """Run a stage's phases in order, each reading what the ones before wrote; their results.

        ``watch(phase)`` is entered around each phase and gives its ``on_done`` (a progress bar).
        The markers of ``rerun`` phases are removed first. :meth:`start` sees every phase before
        the first runs: Slurm submits the whole chain there, so it goes on without this process.
        """
        for phase in phases:
            if phase.rerun:
                for tid in phase.task_ids:
                    marker_path(phase.out_dir, tid).unlink(missing_ok=True)
        self.start(phases)
        results = []
        for phase in phases:
            with watch(phase) if watch is not None else nullcontext(None) as on_done:
                results.append(self.run(phase, on_done))
        return results

    def start(self, phases: Sequence[Phase]) -> None:
        """Called by :meth:`run_stage` before its phases run; nothing to do for most executors."""
        return None

    def run(self, phase: Phase, on_done: OnDone | None = None) -> dict[str, dict]:
        """Run the tasks of ``phase`` that have no marker; return ``{task_id: result}`` for all.

        ``on_done(task_id, result, skipped)`` is called in this process for every task (also the
        ones skipped because a marker exists), in completion order.
        """
        results: dict[str, dict] = {}
        pending = []
        for task, tid in zip(phase.tasks, phase.task_ids, strict=True):
            done = read_marker(phase.out_dir, tid)
            if done is None:
                pending.append((task, tid))
                continue
            results[tid] = done
            if on_done:
                on_done(tid, done, True)
        for tid, result in self.execute(phase, pending):
            results[tid] = result
            if on_done:
                on_done(tid, result, False)
        return results

    @abstractmethod
    def execute(self, phase: Phase, pending: list[tuple[Any, str]]) -> Iterator[tuple[str, dict]]:
        """Run each pending ``(task, task_id)`` with :func:`run_task`; yield ``(task_id, result)``
        as tasks finish."""

    @abstractmethod
    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], setup: Callable[..., Any] | None = None,
        setup_args: tuple = (), ahead: int = 2,
    ) -> Iterator[Any]:  # fmt: skip
        """``fn(item)`` for each item, yielded in input order, with at most ``ahead`` items per
        worker in flight (memory stays bounded on endless inputs). No markers: for streams that
        feed one ordered writer, which keeps its own."""
