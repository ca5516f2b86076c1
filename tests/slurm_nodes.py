"""What Slurm's nodes do with the array scripts ``--executor slurm`` submits, for the tests of
tests/test_exec_slurm.py and the fake ``sbatch`` there (no gptkit imports: it runs per call)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path


def run_array_script(script: str, lose: str | None = None) -> None:
    """What the nodes do with an array script: run it once per ``--array`` index with
    ``SLURM_ARRAY_TASK_ID`` set. ``lose``: a flag file; the first index is lost (never runs) once."""
    spec = re.search(r"^#SBATCH --array=([^%\n]+)", Path(script).read_text(), re.M)[1]
    for part in spec.split(","):
        a, _, b = part.partition("-")
        for i in range(int(a), int(b or a) + 1):
            if lose and not os.path.exists(lose):
                Path(lose).touch()
                continue
            subprocess.run(["bash", script], env={**os.environ, "SLURM_ARRAY_TASK_ID": str(i)}, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def submitted(log: Path) -> list[list[str]]:
    """The argument lists the fake sbatch was called with, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
