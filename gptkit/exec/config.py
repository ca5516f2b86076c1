"""Which executor runs a stage's tasks, and with what resources (the ``[executor]`` recipe table).

The executor never changes a stage's output, so this config is kept out of stage identities and
manifests: a run started with one executor can be finished with another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gptkit.errors import ConfigError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass
class ExecutorConfig:
    kind: Literal["local", "ray", "slurm"] = "local"
    ray_address: str | None = None  # "auto", "HOST:PORT" or None: a local Ray cluster started for the run
    cpus_per_task: int = 1
    memory_per_task: str | None = None  # e.g. "2G": Ray's memory resource, Slurm's --mem (per array task)
    retries: int = 3  # Ray: reruns of a task whose worker died; Slurm: requeues of the tasks that failed
    partition: str | None = None  # Slurm
    time: str | None = None  # Slurm --time, e.g. "04:00:00"
    mem_per_cpu: str | None = None  # Slurm --mem-per-cpu, e.g. "4G"
    max_array_size: int = 1000  # Slurm: tasks per job array (clusters refuse indices above MaxArraySize)
    poll_s: float = 10.0  # Slurm: seconds between the client's looks at the queue and the completion markers
    dry_run: bool = False  # Slurm: print every phase's job scripts and the sbatch commands chaining them; submit nothing

    def __post_init__(self) -> None:
        if self.cpus_per_task < 1 or self.retries < 0 or self.max_array_size < 1:
            raise ConfigError("executor: cpus_per_task and max_array_size must be ≥ 1, retries ≥ 0")
        if self.memory_per_task is not None:
            memory_bytes(self.memory_per_task)
        if self.dry_run and self.kind != "slurm":
            raise ConfigError("--dry-run prints Slurm job scripts: it needs --executor slurm")


def memory_bytes(spec: str) -> int:
    """``"512M"``, ``"2G"``, ``"2GB"`` or a plain byte count → bytes (powers of 1024, as Slurm counts)."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)B?\s*", spec.upper())
    if not m:
        raise ConfigError(f"executor.memory_per_task {spec!r}: expected a size such as 512M or 2G")
    return int(m[1]) * _UNITS[m[2]]
