"""`gptkit quickstart` end to end: time and CPU per stage, LAMBADA perplexity and accuracy, the sample.

Runs the real command in a child process on a fresh run directory and reads back what the run
recorded: each stage's wall and CPU seconds (user + system of the process and its workers,
``RUN/.stages/*.json``), the eval results and the generated sample. On a machine shared with
other jobs wall time grows with the load while CPU seconds barely do, so both are printed with
the load average; on 2 idle cores the wall time is about the CPU time over 2 × the training's
thread efficiency. Extra arguments go to ``gptkit quickstart`` (``--set`` overrides):

    .venv/bin/python benchmarks/bench_quickstart.py
    .venv/bin/python benchmarks/bench_quickstart.py --out /tmp/qs --set train.threads=1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("site", "urls", "crawl", "extract", "clean", "tokenizer", "pack", "train", "generate", "eval")


def run_quickstart(out: Path, extra: list[str]) -> tuple[float, float, list[float]]:
    """Wall seconds, CPU seconds of the whole command, and the 1-minute load average before and after."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = [os.getloadavg()[0]]
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "gptkit", "quickstart", "--out", str(out), *extra]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - started
    load.append(os.getloadavg()[0])
    if proc.returncode:
        sys.exit(f"gptkit quickstart failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, load


def stage_rows(out: Path) -> list[str]:
    rows = ["| stage | wall s | CPU s | what it did |", "|---|---|---|---|"]
    for name in STAGES:
        state = json.loads((out / ".stages" / f"{name}.json").read_text())
        summary = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in state["summary"].items())
        rows.append(f"| {name} | {state['seconds']:.1f} | {state['cpu_seconds']:.1f} | {summary} |")
    return rows


def lambada_scores(out: Path) -> dict[str, float]:
    results = json.loads((out / "eval" / "results.json").read_text())
    scores = next(iter(results["results"].values()))
    return {k.split(",")[0]: v for k, v in scores.items() if isinstance(v, float) and "stderr" not in k}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-quickstart"), help="run directory (emptied)")
    args, extra = parser.parse_known_args()
    shutil.rmtree(args.out, ignore_errors=True)
    wall, cpu, load = run_quickstart(args.out, extra)
    scores = lambada_scores(args.out)
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s (user + system), load average {load[0]:.1f} → {load[1]:.1f}")
    print("\n".join(stage_rows(args.out)))
    print(f"\nLAMBADA (eval.limit passages): perplexity {scores['perplexity']:.1f}, accuracy {100 * scores['acc']:.2f} %")
    print("sample: " + (args.out / "generate" / "sample.txt").read_text().replace("\n", " ⏎ "))


if __name__ == "__main__":
    main()
