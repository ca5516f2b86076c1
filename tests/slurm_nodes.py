"""What Slurm's nodes do with the array scripts ``--executor slurm`` submits, for the tests of
tests/test_exec_slurm.py and the fake ``sbatch`` there (no gptkit imports: it runs per call)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path


def run_array_script(script: str, lose: str | None = None) -> bool:
    """What the nodes do with an array script: run it once per ``--array`` index with
    ``SLURM_ARRAY_TASK_ID`` set; whether every index succeeded. ``lose``: a flag file; the first
    index is lost (never runs, fails) once."""
    spec = re.search(r"^#SBATCH --array=([^%\n]+)", Path(script).read_text(), re.M)[1]
    ok = True
    for part in spec.split(","):
        a, _, b = part.partition("-")
        for i in range(int(a), int(b or a) + 1):
            if lose and not os.path.exists(lose):
                Path(lose).touch()
                ok = False
                continue
            done = subprocess.run(["bash", script], env={**os.environ, "SLURM_ARRAY_TASK_ID": str(i)}, check=False,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            ok = ok and done.returncode == 0
    return ok


def fake_sbatch(argv: list[str]) -> str:
    """The stand-in ``sbatch``: log the arguments and run the array at once (unless
    ``FAKE_SLURM_DEFER``: the test runs the scripts later). A job whose ``afterok`` dependency
    failed never runs and counts as failed (``--kill-on-invalid-dep``). Prints what ``--parsable`` does."""
    log = Path(os.environ["FAKE_SLURM_LOG"])
    with log.open("a") as f:
        f.write(json.dumps(argv) + "\n")
    job = str(4200 + len(submitted(log)))
    failed = log.with_suffix(".failed")
    dead = set(failed.read_text().split()) if failed.exists() else set()
    after = next((set(a.split(":")[1:]) for a in argv if a.startswith("--dependency=afterok:")), set())
    run_now = not os.environ.get("FAKE_SLURM_DEFER")
    if run_now and (after & dead or not run_array_script(argv[-1], os.environ.get("FAKE_SLURM_LOSE_ONCE"))):
        with failed.open("a") as f:
            f.write(job + "\n")
    return f"{job};cluster"


def submitted(log: Path) -> list[list[str]]:
    """The argument lists the fake sbatch was called with, in order."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
