"""Reward model and PPO on a small SFT model, through the real CLI, sized for a busy 2-core CPU.

1. ``gptkit data prefs`` on hh-rlhf helpful-base + harmless-base test splits, half held out.
2. ``gptkit rm train`` from the SFT run (recipes/rlhf/rm.toml, steps and lr overridden), then
   ``gptkit rm eval`` on held-out comparisons: pairwise accuracy against "longer answer wins".
3. ``gptkit ppo`` against that reward model (recipes/rlhf/ppo-trl.toml, shortened), with β = 0 and
   TRL's β = 0.05, then ``gptkit rm policy`` on held-out prompts: mean reward of the policy and of the
   SFT model (before), KL to SFT and the policy's win rate against the SFT model's replies.

The SFT run comes from benchmarks/bench_sft.py (its ``sft-assistant`` run: a ``nano`` model).

    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/sft/bench
    nice .venv/bin/python benchmarks/bench_rlhf.py --sft /tmp/sft/bench/sft-assistant --work /tmp/rlhf/bench --part rm
    nice .venv/bin/python benchmarks/bench_rlhf.py --sft /tmp/sft/bench/sft-assistant --work /tmp/rlhf/bench --part ppo
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "rlhf" / "hh-rlhf"
CPU = ("--set", "train.threads=2", "--set", "train.device=cpu", "--set", "train.dtype=fp32")


def gptkit(*args: object) -> None:
    cmd = [sys.executable, "-m", "gptkit", "-q", *map(str, args)]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", type=Path, required=True, help="a gptkit sft run")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rm-epochs", type=float, default=0.1, help="passes over the 2,381 training comparisons")
    parser.add_argument("--rm-lr", type=float, default=3e-4)
    parser.add_argument("--eval-comparisons", type=int, default=200)
    parser.add_argument("--ppo-steps", type=int, default=12, help="4 steps per rollout of 16 prompts")
    parser.add_argument("--ppo-lr", type=float, default=1e-4)
    parser.add_argument("--eval-prompts", type=int, default=24)
    parser.add_argument("--part", choices=("rm", "ppo"), required=True, help="each part fits in ~2 min")
    args = parser.parse_args()
    work = args.work
    if args.part == "ppo":
        return ppo_part(args, work)
    gptkit("data", "prefs", DATA / "helpful-base" / "test.jsonl.gz", DATA / "harmless-base" / "test.jsonl.gz",
           "--out", work / "prefs", "--val-fraction", 0.5)  # fmt: skip
    gptkit("rm", "train", args.sft, "--data", work / "prefs", "--out", work / "rm", "-r", "recipes/rlhf/rm.toml",
           "--set", f"train.epochs={args.rm_epochs}", "--set", "train.batch_size=16",
           "--set", f"train.optim.lr={args.rm_lr}", "--set", "train.eval_interval=0", *CPU)  # fmt: skip
    gptkit("rm", "eval", work / "rm", "--data", work / "prefs", "--limit", args.eval_comparisons,
           "--out", work / "rm_eval.json")  # fmt: skip
    print(json.dumps(json.loads((work / "rm_eval.json").read_text()), indent=1))


def ppo_part(args: argparse.Namespace, work: Path) -> None:
    results = {}
    judge = ("--sft", args.sft, "--prompts", work / "prefs", "--limit", args.eval_prompts)
    for beta in (0.0, 0.05):
        run = work / f"ppo-beta{beta}"
        gptkit("ppo", args.sft, "--reward", work / "rm", "--prompts", work / "prefs", "--out", run,
               "-r", "recipes/rlhf/ppo-trl.toml", "--set", "ppo.rollout_size=16", f"--set=ppo.kl_coef={beta}",
               "--set", f"train.steps={args.ppo_steps}", "--set", f"train.optim.lr={args.ppo_lr}", *CPU)  # fmt: skip
        gptkit("rm", "policy", work / "rm", run, *judge, "--out", work / f"ppo-beta{beta}_judged.json")
        results[f"ppo_beta{beta}"] = json.loads((work / f"ppo-beta{beta}_judged.json").read_text())
        results[f"ppo_beta{beta}"]["train_rollouts"] = [
            {k: m[k] for k in ("step", "rollout_reward", "rollout_kl")}
            for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["step"] % 4 == 1]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
