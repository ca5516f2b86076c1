"""The Slurm executor: a stage's phases as ``sbatch`` job arrays, chained with ``afterok``.

Every phase of a stage is submitted at once (:meth:`SlurmExecutor.start`): the pending tasks of a
phase are pickled to ``OUT/slurm/<phase>/tasks-tryK.pkl``, one job script per chunk of at most
``max_array_size`` tasks (``--array=0-N%workers``) runs ``python -m gptkit exec array
tasks-tryK.pkl --offset C`` (entry ``C + $SLURM_ARRAY_TASK_ID`` of the pickle, through
:func:`run_task`, which writes the marker), and each array waits for every array of the phase
before (``sbatch --dependency=afterok:ID:ID…``). What a phase needs from the ones before (the
MinHash union-find, the merged stats and the manifest) is computed by a task of its own, on a
node, so the chain finishes without the submitting process. That process only watches: it polls
``squeue`` and the markers (progress as markers appear), submits the tasks still unmarked when a
phase's arrays have left the queue again (``retries`` times; the phases after it are re-chained
on the new jobs) and fails with the log folder named. Killed, it leaves the chain running; run
again while the chain is queued, it watches that chain instead of submitting another.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from gptkit.errors import DryRun, StageFailure, UsageError
from gptkit.exec.base import COMPLETIONS, Phase, read_marker, run_task
from gptkit.exec.config import ExecutorConfig
from gptkit.exec.local import LocalExecutor
from gptkit.io.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from gptkit.io.remote import RemoteOutput, published_url

SLURM_DIR = "slurm"
CHAIN = "chain.json"  # {phase name: job ids} of the chain last submitted into OUT/slurm/


class SlurmExecutor(LocalExecutor):
    """Phases become chained job arrays with at most ``workers`` tasks running at once; ordered
    streams stay on this machine's ``workers`` processes (inherited ``imap``; pack encodes through
    a phase of its own instead)."""

    def __init__(self, workers: int = 1, config: ExecutorConfig | None = None):
        super().__init__(workers)
        self.config = config or ExecutorConfig(kind="slurm")
        self._chain: list[Phase] = []
        self._jobs: dict[str, list[str]] = {}  # phase name → ids of its latest arrays
        self._tries: dict[str, int] = {}

    def start(self, phases: Sequence[Phase]) -> None:
        """Submit the pending tasks of every phase, each phase's arrays after the previous ones'."""
        self._chain = list(phases)
        if not phases:
            return
        if self.config.dry_run:
            self._dry_run()
        record = Path(phases[0].out_dir) / SLURM_DIR / CHAIN
        queued = _read_chain(record) or {}
        ids = sum(queued.values(), []) if list(queued) == [p.name for p in phases] else []
        if ids and still_queued(ids):
            self._jobs = queued  # a killed client's chain, still running: watch it
            return
        self._submit_from(0)

    def execute(self, phase: Phase, pending: list[tuple[Any, str]]) -> Iterator[tuple[str, dict]]:
        if not pending:
            return
        position = next((i for i, p in enumerate(self._chain) if p is phase), None)  # by identity: tasks may hold arrays
        if position is None:  # run() on its own: a chain of one
            self.start([phase])
            position = 0
        left = [tid for _, tid in pending]
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._submit_from(position)
            try:
                left = yield from self._wait(self._jobs[phase.name], phase.out_dir, left)
            except BaseException:  # Ctrl-C or a failure here: stop the chain too (markers keep what finished)
                subprocess.run(["scancel", *sum(self._jobs.values(), [])], capture_output=True, check=False)
                raise
            if not left:
                return
        folder = Path(phase.out_dir) / SLURM_DIR / phase.name / "logs"
        raise StageFailure(f"{len(left)} {phase.name} task(s) still failed after {self.config.retries} requeue(s); logs in {folder}")

    def _submit_from(self, first: int) -> None:
        """Submit the unmarked tasks of phases ``first``… (replacing their earlier arrays), chained."""
        after = self._jobs.get(self._chain[first - 1].name, []) if first else []
        old = sum((self._jobs.get(p.name, []) for p in self._chain[first:]), [])
        if old:
            subprocess.run(["scancel", *old], capture_output=True, check=False)
        for phase in self._chain[first:]:
            pending = _unmarked(phase)
            jobs = [submit(sbatch_args(path, after)) for path in self._prepare(phase, pending)] if pending else []
            self._jobs[phase.name] = jobs
            after = jobs or after
        atomic_write_json(Path(self._chain[0].out_dir) / SLURM_DIR / CHAIN, self._jobs)

    def _prepare(self, phase: Phase, pending: list[tuple[Any, str]]) -> list[Path]:
        """Pickle ``pending`` for the array tasks; write the job scripts that run them."""
        attempt = self._tries[phase.name] = self._tries.get(phase.name, -1) + 1
        folder = Path(phase.out_dir) / SLURM_DIR / phase.name
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        state = (phase.fn, phase.setup, phase.setup_args, str(phase.out_dir), list(pending), published_url(phase.out_dir))
        atomic_write_bytes(folder / f"tasks-try{attempt}.pkl", pickle.dumps(state))
        return self.write_scripts(phase.name, folder, list(range(len(pending))), attempt)

    def _dry_run(self) -> NoReturn:
        """Write every phase's scripts; print them and the commands that would submit them."""
        texts, commands, after = [], [], []
        for phase in self._chain:
            pending = _unmarked(phase)
            names = []
            for k, path in enumerate(self._prepare(phase, pending) if pending else []):
                names.append(f"{phase.name}_{k}".replace("-", "_"))
                texts.append(f"# {path}\n{path.read_text(encoding='utf-8')}")
                args = sbatch_args(path, ["$" + n for n in after])
                line = " ".join(f'"{a}"' if "$" in a else shlex.quote(a) for a in args)
                commands.append(f"{names[-1]}=$({line} | cut -d';' -f1)")
            after = names or after
        text = "\n".join(texts) + "\n# submitted in this order (bash):\n" + "\n".join(commands) + "\n"
        raise DryRun(f"--dry-run: {len(texts)} job script(s) of {len(self._chain)} phase(s) written, not submitted", text)

    def _wait(self, jobs: list[str], out_dir: str | Path, left: list[str]) -> Iterator[tuple[str, dict]]:
        """Yield tasks as their markers appear until the jobs leave the queue; the ids still unmarked."""
        url = published_url(out_dir)
        while True:
            queued = bool(jobs) and still_queued(jobs)
            if url is not None:  # the tasks publish their markers to the store
                RemoteOutput(url, Path(out_dir)).pull(COMPLETIONS)
            unmarked = []
            for tid in left:
                if (result := read_marker(out_dir, tid)) is not None:
                    yield tid, result
                else:
                    unmarked.append(tid)
            left = unmarked
            if not left or not queued:
                return left
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
            atomic_write_text(path, self.script(name, folder / f"tasks-try{attempt}.pkl", offset, [i - offset for i in numbers]))
            paths.append(path)
        return paths

    def script(self, name: str, tasks_file: Path, offset: int, indices: list[int]) -> str:
        c = self.config
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name=gptkit-{name.replace(' ', '-')}",
            f"#SBATCH --array={array_spec(indices)}%{self.workers}",
            f"#SBATCH --cpus-per-task={c.cpus_per_task}",
            f"#SBATCH --output={tasks_file.parent / 'logs'}/%A_%a.out",
            "#SBATCH --requeue",
            "#SBATCH --kill-on-invalid-dep=yes",  # a phase whose phase before failed leaves the queue
        ]
        lines += [f"#SBATCH --{key}={value}" for key, value in
                  (("partition", c.partition), ("time", c.time), ("mem-per-cpu", c.mem_per_cpu),
                   ("mem", c.memory_per_task)) if value]  # fmt: skip
        entry = [sys.executable, "-m", "gptkit", "exec", "array", str(tasks_file), "--offset", str(offset)]
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


def sbatch_args(script: Path, after: list[str]) -> list[str]:
    """The ``sbatch`` command of ``script``, started only once the jobs ``after`` all succeeded."""
    depends = [f"--dependency=afterok:{':'.join(after)}"] if after else []
    return ["sbatch", "--parsable", *depends, str(script)]


def submit(args: list[str]) -> str:
    """Run ``sbatch --parsable …`` → the job id."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise UsageError("--executor slurm: sbatch not found (run on a Slurm login node, or use --dry-run)") from None
    if done.returncode != 0:
        raise StageFailure(f"{shlex.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip().split(";")[0]


def _unmarked(phase: Phase) -> list[tuple[Any, str]]:
    return [(task, tid) for task, tid in zip(phase.tasks, phase.task_ids, strict=True) if read_marker(phase.out_dir, tid) is None]


def _read_chain(record: Path) -> dict[str, list[str]] | None:
    try:
        return json.loads(record.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


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
    fn, setup, setup_args, out_dir, pending, url = pickle.loads(Path(tasks_file).read_bytes())
    if not 0 <= offset + index < len(pending):
        raise UsageError(f"{tasks_file}: no task {offset + index} (the file holds {len(pending)})")
    task, tid = pending[offset + index]
    if read_marker(out_dir, tid) is None:
        if setup is not None:
            setup(*setup_args)
        run_task(fn, task, tid, out_dir, url)
    return tid
