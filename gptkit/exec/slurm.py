"""The Slurm executor: each phase's pending tasks as ``sbatch`` job arrays on a shared filesystem.

The phase (its function, setup and pending tasks) is pickled to ``OUT/slurm/<phase>/tasks.pkl``;
one job script per chunk of at most ``max_array_size`` tasks (``--array=0-N%workers``) runs
``python -m gptkit exec array tasks.pkl --offset K`` on the node: entry ``K +
$SLURM_ARRAY_TASK_ID`` of the pickle, through :func:`run_task`, which writes the marker. This
process waits: it polls ``squeue`` and the markers (reporting tasks as their markers appear), then
submits the tasks still unmarked again (``retries`` times) and fails with the log folder named.
"""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gptkit.errors import DryRun, StageFailure, UsageError
from gptkit.exec.base import Phase, read_marker, run_task
from gptkit.exec.config import ExecutorConfig
from gptkit.exec.local import LocalExecutor
from gptkit.io.atomic import atomic_write_bytes, atomic_write_text

SLURM_DIR = "slurm"


class SlurmExecutor(LocalExecutor):
    """Phases become job arrays with at most ``workers`` tasks running at once; ordered streams
    (pack's encoder, overlap) stay on this machine's ``workers`` processes (inherited ``imap``)."""

    def __init__(self, workers: int = 1, config: ExecutorConfig | None = None):
        super().__init__(workers)
        self.config = config or ExecutorConfig(kind="slurm")

    def execute(self, phase: Phase, pending: list[tuple[Any, str]]) -> Iterator[tuple[str, dict]]:
        if not pending:
            return
        folder = Path(phase.out_dir) / SLURM_DIR / phase.name
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        state = (phase.fn, phase.setup, phase.setup_args, str(phase.out_dir), list(pending))
        atomic_write_bytes(folder / "tasks.pkl", pickle.dumps(state))
        todo = list(range(len(pending)))
        for attempt in range(self.config.retries + 1):
            scripts = self.write_scripts(phase.name, folder, todo, attempt)
            if self.config.dry_run:
                text = "\n".join(f"# {path}\n{path.read_text(encoding='utf-8')}" for path in scripts)
                raise DryRun(f"--dry-run: {len(scripts)} job script(s) of phase '{phase.name}' written, not submitted", text)
            jobs = [submit(path) for path in scripts]
            try:
                todo = yield from self._wait(jobs, phase, pending, todo)
            except BaseException:  # Ctrl-C or a failure here: stop the arrays too (markers keep what finished)
                subprocess.run(["scancel", *jobs], capture_output=True, check=False)
                raise
            if not todo:
                return
        raise StageFailure(
            f"{len(todo)} {phase.name} task(s) still failed after {self.config.retries} requeue(s); logs in {folder / 'logs'}"
        )

    def _wait(self, jobs: list[str], phase: Phase, pending: list, todo: list[int]) -> Iterator[tuple[str, dict]]:
        """Yield tasks as their markers appear until the jobs leave the queue; the indices still unmarked."""
        while True:
            queued = still_queued(jobs)
            left = []
            for i in todo:
                tid = pending[i][1]
                if (result := read_marker(phase.out_dir, tid)) is not None:
                    yield tid, result
                else:
                    left.append(i)
            todo = left
            if not todo or not queued:
                return todo
            time.sleep(self.config.poll_s)

    def write_scripts(self, name: str, folder: Path, todo: list[int], attempt: int) -> list[Path]:
        """One script per chunk of ``max_array_size`` task numbers: ``--array`` indices stay below it."""
        size = self.config.max_array_size
        chunks: dict[int, list[int]] = {}
        for i in todo:
            chunks.setdefault(i // size * size, []).append(i)
        paths = []
        for offset, numbers in chunks.items():
            path = folder / f"array-{offset // size:05d}-try{attempt}.sh"
            atomic_write_text(path, self.script(name, folder, offset, [i - offset for i in numbers]))
            paths.append(path)
        return paths

    def script(self, name: str, folder: Path, offset: int, indices: list[int]) -> str:
        c = self.config
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name=gptkit-{name.replace(' ', '-')}",
            f"#SBATCH --array={array_spec(indices)}%{self.workers}",
            f"#SBATCH --cpus-per-task={c.cpus_per_task}",
            f"#SBATCH --output={folder / 'logs'}/%A_%a.out",
            "#SBATCH --requeue",
        ]
        lines += [f"#SBATCH --{key}={value}" for key, value in
                  (("partition", c.partition), ("time", c.time), ("mem-per-cpu", c.mem_per_cpu),
                   ("mem", c.memory_per_task)) if value]  # fmt: skip
        entry = [sys.executable, "-m", "gptkit", "exec", "array", str(folder / "tasks.pkl"), "--offset", str(offset)]
        lines += [f"cd {shlex.quote(os.getcwd())}", "exec " + shlex.join(entry), ""]
        return "\n".join(lines)


def array_spec(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0-2,5,7-8"`` (sorted indices)."""
    parts, start = [], None
    for j, i in enumerate(indices):
        if start is None:
            start = i
        if j + 1 == len(indices) or indices[j + 1] != i + 1:
            parts.append(str(i) if i == start else f"{start}-{i}")
            start = None
    return ",".join(parts)


def submit(script: Path) -> str:
    """``sbatch --parsable script`` → the job id."""
    try:
        done = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--executor slurm: sbatch not found (run on a Slurm login node, or use --dry-run)") from None
    if done.returncode != 0:
        raise StageFailure(f"sbatch {script} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def still_queued(jobs: list[str]) -> bool:
    """Whether any of ``jobs`` is pending or running. Jobs Slurm no longer knows have ended; any
    other squeue failure (a busy controller) counts as "still queued": ask again later."""
    done = subprocess.run(["squeue", "--noheader", "--format=%i", "--jobs", ",".join(jobs)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        return "invalid job id" not in done.stderr.lower()
    return bool(done.stdout.strip())


def run_array_task(tasks_file: str | Path, offset: int, index: int | None = None) -> str:
    """The array entry point: run task ``offset + index`` (``SLURM_ARRAY_TASK_ID`` by default)."""
    if index is None:
        value = os.environ.get("SLURM_ARRAY_TASK_ID", "")
        if not value.isdigit():
            raise UsageError(f"gptkit exec array runs in a Slurm job array (SLURM_ARRAY_TASK_ID={value!r})")
        index = int(value)
    fn, setup, setup_args, out_dir, pending = pickle.loads(Path(tasks_file).read_bytes())
    if not 0 <= offset + index < len(pending):
        raise UsageError(f"{tasks_file}: no task {offset + index} (the file holds {len(pending)})")
    task, tid = pending[offset + index]
    if read_marker(out_dir, tid) is None:
        if setup is not None:
            setup(*setup_args)
        run_task(fn, task, tid, out_dir)
    return tid
