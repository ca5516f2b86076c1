"""Executors: how a stage's tasks get run: local processes, a Ray cluster or Slurm job arrays.

A stage describes each parallel phase as a :class:`Phase`: a module-level function ``fn(task) ->
dict`` over picklable task descriptions ("task i of N of this stage with this config"), each
with an id. Running one task (:func:`run_task`) writes the task's own outputs and then its
completion marker ``completions/<id>.json`` (the result dict); the executor only schedules, so a
run can stop on one executor and finish on another. A stage's phases in order, its last one
merging the markers into the manifest, go to :meth:`Executor.run_stage` (Slurm submits them as
one chain). The stream that feeds pack's ordered writer uses :meth:`Executor.imap` instead.

    from gptkit.exec import Phase, executor_for
    results = executor_for(workers, executor_config).run(Phase(filter_task, tasks, ids, out, setup, setup_args), on_done)

Ray and Slurm are imported only when chosen (``gptkit[ray]`` is an optional extra).
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
from gptkit.exec.config import ExecutorConfig
from gptkit.exec.local import LocalExecutor


def executor_for(workers: int, config: ExecutorConfig | None = None) -> Executor:
    """The executor of ``config.kind`` (local by default) with ``workers`` tasks running at once."""
    kind = config.kind if config is not None else "local"
    if kind == "ray":
        from gptkit.exec.ray import RayExecutor

        return RayExecutor(workers, config)
    if kind == "slurm":
        from gptkit.exec.slurm import SlurmExecutor

        return SlurmExecutor(workers, config)
    return LocalExecutor(workers)


__all__ = [
    "COMPLETIONS", "Executor", "ExecutorConfig", "LocalExecutor", "Phase", "executor_for", "marker_path", "parse_task_range",
    "read_marker", "run_task",
]  # fmt: skip
