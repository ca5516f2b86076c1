"""CLI start-up: CPU seconds (user + sys) of ``gptkit … --help`` and usage errors, in new processes.

Each command runs ``--runs`` times as ``python -m gptkit …`` (stdout and stderr discarded), and the
median CPU time of the child is reported (``resource.getrusage(RUSAGE_CHILDREN)`` before and after,
so wall-clock waits on a loaded machine do not count). ``python -c pass`` in the same interpreter is
the floor: start-up plus site and the editable-install finder. With ``--baseline DIR`` (a checkout
of an older commit, e.g. ``git archive HEAD~3 | tar -x -C DIR``) each run alternates between this
checkout and DIR through ``PYTHONPATH``, so both see the same load.

    nice .venv/bin/python benchmarks/bench_cli.py --runs 15 --baseline /tmp/gptkit-before
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [
    ["--help"],
    ["train", "--help"],
    ["data", "clean", "--help"],
    ["eval", "--help"],
    ["tokenizer", "train", "--help"],
    ["train", "--nope"],  # usage error: no such option
    ["data", "extract"],  # usage error: missing argument
    ["trian"],  # usage error: no such command
]


def cpu_seconds(argv: list[str], pythonpath: Path) -> float:
    """User + sys CPU seconds of one ``python argv`` process run in ``pythonpath`` (where ``-m`` imports from)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    subprocess.run([sys.executable, *argv], cwd=pythonpath, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (median reported)")
    parser.add_argument("--baseline", type=Path, help="another checkout to alternate with")
    args = parser.parse_args()
    trees = {"this": REPO, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    rows = [(["-c", "pass"], "python -c pass")]
    rows += [(["-m", "gptkit", *command], "gptkit " + " ".join(command)) for command in COMMANDS]
    print(f"load average before: {load()}; median of {args.runs} runs, CPU s")
    print(f"{'command':34}" + "".join(f"{name:>10}" for name in trees))
    for argv, label in rows:
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(cpu_seconds(argv, tree))
        medians = [statistics.median(times[name]) for name in trees]
        print(f"{label:34}" + "".join(f"{m:10.3f}" for m in medians), flush=True)
    print(f"load average after: {load()}")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
