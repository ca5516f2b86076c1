"""A small local executor: run "task i of N" functions on worker processes, resumably.

A stage exposes its work as a pure, picklable function ``fn(task) -> dict`` over a list of
task descriptions. :func:`run_tasks` runs the tasks that have no completion marker yet on
``workers`` processes and writes ``completions/<task_id>.json`` (holding the task's result,
e.g. its counts) atomically when each finishes. A killed run, started again, skips the
finished tasks and re-runs the others; their outputs must therefore be written atomically
too. ``task_range`` lets several machines sharing a filesystem each take a slice of the tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any, TypeVar

from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.pool import WorkerPool

T = TypeVar("T")

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


def run_tasks(
    fn: Callable[[T], dict],
    tasks: Sequence[T],
    task_ids: Sequence[str],
    out_dir: str | Path,
    workers: int = 1,
    on_done: Callable[[str, dict, bool], None] | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: tuple = (),
) -> dict[str, dict]:
    """Run ``fn`` over the tasks without a completion marker; return ``{task_id: result}``.

    ``on_done(task_id, result, skipped)`` is called in the parent for every task (also for those
    skipped because a marker exists), in completion order. Results must be JSON-serialisable.
    With ``workers <= 1`` tasks run in this process (easier to debug and profile).
    """
    if len(tasks) != len(task_ids):
        raise ValueError("tasks and task_ids differ in length")
    results: dict[str, dict] = {}
    pending = []
    for task, tid in zip(tasks, task_ids, strict=True):
        done = read_marker(out_dir, tid)
        if done is not None:
            results[tid] = done
            if on_done:
                on_done(tid, done, True)
        else:
            pending.append((task, tid))

    def finish(tid: str, result: dict) -> None:
        atomic_write_json(marker_path(out_dir, tid), result)
        results[tid] = result
        if on_done:
            on_done(tid, result, False)

    if workers <= 1 or len(pending) <= 1:
        if initializer:
            initializer(*initargs)
        for task, tid in pending:
            finish(tid, fn(task))
        return results

    with WorkerPool(workers, initializer=initializer, initargs=initargs) as pool:
        queue = list(pending)
        running = {}
        while queue or running:
            while queue and len(running) < workers:
                task, tid = queue.pop(0)
                running[pool.submit(fn, task)] = tid
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                tid = running.pop(fut)
                finish(tid, fut.result())
    return results
