"""Regression check: gptkit's own pack, train, eval and clean, one checkout against another.

Each stage runs through the real CLI (``python -m gptkit``) of each checkout in turn, with
``PYTHONPATH`` pointing at that checkout, alternating old and new for ``--rounds`` rounds on
the same inputs, so both sides see the same load. Prints wall and CPU seconds (user + system,
all processes) per stage: the median of the rounds, and the new/old ratio.

Inputs: ``--mb`` MB of the shared corpora as zstd shards (as ``bench_pack.py`` builds them);
pack packs all of them with the GPT-2 tokenizer; train runs ``--steps`` steps of the tiny
preset on that pack; eval scores the first 300 LAMBADA passages with the trained model; clean
cleans the first two shards. A checkout older than the current manifest format packs its own
tokens, so each side trains on what it packed.

    git worktree add --detach /tmp/old <commit>
    .venv/bin/python benchmarks/bench_regression.py --old /tmp/old --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pack import SHARED, build_input

REPO = Path(__file__).resolve().parents[1]
LAMBADA = REPO / "gptkit/samples/lambada_test.jsonl.gz"


def stage_commands(work: Path, side: str, steps: int) -> dict[str, list[str]]:
    """The CLI arguments of each stage, in the order they run (later ones read earlier outputs)."""
    tokens, run = work / f"tokens_{side}", work / f"run_{side}"
    return {
        "pack": ["data", "pack", str(work / "docs"), "--tokenizer", str(SHARED / "tokenizers/gpt2"), "-o", str(tokens),
                 "--workers", "2"],
        "train": ["train", "-d", str(tokens), "-o", str(run), "--steps", str(steps), "--threads", "2",
                  "-s", "train.model.preset=tiny", "-s", "train.micro_batch=8", "-s", "train.eval_interval=1000",
                  "-s", "train.checkpoint.interval=1000"],
        "eval": ["eval", str(run), "-t", "lambada", "--limit", "300", "-b", "16", "--bootstrap-iters", "0", "--no-cache",
                 "-s", f"eval.lambada.file={LAMBADA}", "-o", str(work / f"eval_{side}")],
        "clean": ["data", "clean", str(work / "clean_in"), "-o", str(work / f"clean_{side}"), "-w", "2"],
    }  # fmt: skip


def timed(checkout: Path, args: list[str], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one gptkit command of ``checkout``; its output folder starts empty."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gptkit", "-q", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{checkout}: gptkit {' '.join(args[:2])} failed:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, required=True, help="the checkout to compare against")
    ap.add_argument("--new", type=Path, default=REPO, help="default: this checkout")
    ap.add_argument("--mb", type=float, default=80, help="MB of text to pack")
    ap.add_argument("--steps", type=int, default=12, help="training steps")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_input(work / "docs", args.mb, 8)
        (work / "clean_in").mkdir()
        for shard in sorted((work / "docs").glob("*.zst"))[:2]:
            shutil.copy(shard, work / "clean_in")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for side, checkout in (("old", args.old), ("new", args.new)):
                for stage, cmd in stage_commands(work, side, args.steps).items():
                    out = Path(cmd[cmd.index("-o") + 1])
                    results.setdefault((stage, side), []).append(timed(checkout.resolve(), cmd, out))
        print(f"{'stage':8} {'old wall':>9} {'new wall':>9} {'ratio':>6} {'old CPU':>8} {'new CPU':>8} {'ratio':>6}"
              f"   (medians of {args.rounds} alternating rounds; load average {os.getloadavg()[0]:.1f})")
        for stage in ("pack", "train", "eval", "clean"):
            (ow, oc), (nw, nc) = (map(statistics.median, zip(*results[stage, s], strict=True)) for s in ("old", "new"))
            print(f"{stage:8} {ow:9.2f} {nw:9.2f} {nw / ow:6.2f} {oc:8.2f} {nc:8.2f} {nc / oc:6.2f}")


if __name__ == "__main__":
    main()
