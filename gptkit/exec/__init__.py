"""Executors: how a stage's tasks get run (local processes today; Ray and Slurm plug in here).

A stage describes each parallel phase as a :class:`Phase`: a module-level function ``fn(task) ->
dict`` over picklable task descriptions ("task i of N of this stage with this config"), each
with an id. Running one task (:func:`run_task`) writes the task's own outputs and then its
completion marker ``completions/<id>.json`` (the result dict); the executor only schedules, so a
run can stop on one executor and finish on another. Streaming stages that feed one ordered
writer (pack's encoder, overlap) use :meth:`Executor.imap` instead.

    from gptkit.exec import Phase, executor_for
    results = executor_for(workers).run(Phase(filter_task, tasks, ids, out, setup, setup_args), on_done)
"""

from gptkit.exec.base import (
    COMPLETIONS,
    Executor,
    Phase,
    marker_path,
    parse_task_range,
    read_marker,
    run_task,
)
from gptkit.exec.local import LocalExecutor


def executor_for(workers: int) -> Executor:
    """The executor a stage run with ``workers`` processes uses (the only kind so far: local)."""
    return LocalExecutor(workers)


__all__ = [
    "COMPLETIONS", "Executor", "LocalExecutor", "Phase", "executor_for", "marker_path", "parse_task_range",
    "read_marker", "run_task",
]  # fmt: skip
