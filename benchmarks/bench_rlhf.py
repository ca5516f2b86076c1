"""Reward model and PPO on a small SFT model, through the real CLI, sized for a busy 2-core CPU.

0. ``--part sft --base RUN`` (optional): ``gptkit data chat`` on the hh-rlhf helpful-online and
   helpful-rejection-sampled test splits and the OpenAssistant trees (no conversation of the
   helpful-base / harmless-base splits that steps 1-3 train and judge on), then ``gptkit sft`` of a
   pre-trained ``gptkit train`` run into ``--sft``.
1. ``gptkit data prefs`` on hh-rlhf helpful-base + harmless-base test splits, half held out.
2. ``gptkit rm train`` from the SFT run (recipes/rlhf/rm.toml, epochs and lr overridden), then
   ``gptkit rm eval`` on held-out comparisons: pairwise accuracy against "longer answer wins".
3. ``gptkit ppo`` against that reward model (recipes/rlhf/ppo-trl.toml, shortened), with β = 0 and
   TRL's β = 0.05, then ``gptkit rm policy`` on held-out prompts: mean reward of the policy and of the
   SFT model (before), KL to SFT, reply lengths and the policy's win rate against the SFT model's replies.

Every stage's wall and CPU seconds go to WORK/times/STAGE.json; the PPO part for one β can run
beside the one for another (``--betas``), and beside ``rm eval`` once ``rm train`` is done. The SFT
run comes from ``--part sft`` (docs/benchmarks.md: from transfer16's ``mini`` base LM) or from
benchmarks/bench_sft.py (its ``sft-assistant`` run: a ``nano`` model pre-trained 50 steps).

    B="nice -n 19 .venv/bin/python benchmarks/bench_rlhf.py --sft /tmp/rlhf/sft --work /tmp/rlhf/bench"
    $B --part sft --base runs/base-lm --sft-epochs 0.1 --sft-batch 4
    $B --part rm
    $B --part ppo --betas 0.0 --ppo-steps 32 & $B --part ppo --betas 0.05 --ppo-steps 32

4. ``--part sentiment`` (TRL's sentiment demo, the issue's PPO figure): SST-2 sentences as comparisons
   ``{"prompt": "Write a movie review that begins: <first 3 words of a sentence>", "chosen": <positive
   sentence>, "rejected": <negative sentence>}`` (the i-th positive against the i-th negative, each
   prefix used once), ``gptkit data prefs`` (a fifth held out: held-out prompts never reach PPO), ``gptkit
   rm train`` from the SFT run, ``gptkit rm eval`` on pairs made the same way from SST-2's dev.tsv, then
   step 3 against this reward model with replies of at most 24 tokens.

    S="$B --part sentiment --ppo-rollout 32 --ppo-steps 160 --eval-prompts 128"
    $S --betas 0.0   # beside it, once WORK/sentiment/rm/reward.json exists:
    $S --betas 0.05

5. ``--part speed --trl-python PY`` (after ``--part rm``): ``gptkit rm train`` against TRL's ``RewardTrainer``
   and ``gptkit ppo`` against TRL's experimental ``PPOTrainer`` (TRL 1.x dropped it: give ``--trl-ppo-path``, a
   folder holding TRL 0.29, put first on the TRL interpreter's path), both from the same ``gptkit export`` of the
   SFT run, on the same token ids (made here with gptkit's chat template), same batch, steps, learning rate,
   constant schedule, clipping, fp32 and thread count. A PPO optimizer step is one update on a minibatch of
   ``train.batch_size`` episodes on both sides: a rollout of 64 prompts, 4 PPO epochs and minibatches of 16 make
   16 steps. Each trainer runs a short and a long run, alternating; rates come from each trainer's own timing
   of its loop in the long run, and per CPU-second from the CPU seconds the long run took beyond the short one.

    python3 -m venv /work/bench/trl && /work/bench/trl/bin/pip install torch==2.13.0 trl
    /work/bench/trl/bin/pip install --no-deps --target /work/bench/trl029 trl==0.29.1
    nice .venv/bin/python benchmarks/bench_rlhf.py --sft /tmp/sft/bench/sft-assistant --work /tmp/rlhf/bench \\
        --part speed --trl-python /work/bench/trl/bin/python --trl-ppo-path /work/bench/trl029
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from bench_sft import timed

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RLHF, SST2 = SHARED / "rlhf", SHARED / "finetune" / "sst2"
DATA = RLHF / "hh-rlhf"
SFT_DATA = (DATA / "helpful-online" / "test.jsonl.gz", DATA / "helpful-rejection-sampled" / "test.jsonl.gz",
            RLHF / "openassistant" / "en_100_tree.jsonl")  # fmt: skip


def gptkit(*args: object) -> None:
    cmd = [sys.executable, "-m", "gptkit", "-q", *map(str, args)]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def stage(work: Path, name: str, *args: object) -> None:
    """Run a gptkit command and note its wall and CPU seconds in WORK/times/NAME.json (one file per
    stage, so parts can run side by side; a rerun that resumes a finished stage notes the rerun's)."""
    (work / "times").mkdir(parents=True, exist_ok=True)
    wall, cpu, _ = timed([sys.executable, "-m", "gptkit", "-q", *map(str, args)])
    times = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load_average": os.getloadavg()}
    (work / "times" / f"{name}.json").write_text(json.dumps(times))


def cpu(args: argparse.Namespace) -> tuple[str, ...]:
    return ("--set", f"train.threads={args.threads}", "--set", "train.device=cpu", "--set", "train.dtype=fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sft", type=Path, required=True, help="a gptkit sft run (--part sft writes it)")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--part", choices=("sft", "rm", "ppo", "sentiment", "speed"), required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every trainer")
    parser.add_argument("--base", type=Path, help="sft: the pre-trained gptkit train run")
    parser.add_argument("--sft-epochs", type=float, default=0.5, help="sft: passes over the conversations")
    parser.add_argument("--sft-batch", type=int, default=8, help="sft: conversations per step")
    parser.add_argument("--sft-lr", type=float, default=5e-4)
    parser.add_argument("--rm-epochs", type=float, default=1.0, help="passes over the training comparisons (hh-rlhf: 2,381)")
    parser.add_argument("--rm-batch", type=int, default=16, help="comparisons per step")
    parser.add_argument("--rm-lr", type=float, default=3e-4)
    parser.add_argument("--eval-comparisons", type=int, help="first N held-out comparisons (default: all)")
    parser.add_argument("--betas", type=float, nargs="+", default=(0.0, 0.05), help="ppo: KL coefficients")
    parser.add_argument("--ppo-rollout", type=int, default=16, help="prompts per rollout (4 steps each)")
    parser.add_argument("--ppo-steps", type=int, default=12, help="PPO optimizer steps (4 per rollout)")
    parser.add_argument("--ppo-lr", type=float, default=1e-4)
    parser.add_argument("--eval-prompts", type=int, default=24)
    parser.add_argument("--trl-python", help="speed: interpreter of a venv with TRL")
    parser.add_argument("--trl-ppo-path", help="speed: a folder holding TRL <= 0.29 (its experimental PPOTrainer)")
    parser.add_argument("--rm-steps", type=int, nargs=2, default=(10, 150), help="speed: short and long RM runs")
    parser.add_argument("--ppo-rollouts", type=int, nargs=2, default=(1, 3), help="speed: short and long PPO runs")
    args = parser.parse_args()
    if args.part == "sft":
        if not args.base:
            parser.error("--part sft needs --base")
        return sft_part(args, args.work)
    if args.part == "ppo":
        return ppo_part(args, args.work)
    if args.part == "sentiment":
        return sentiment_part(args, args.work / "sentiment")
    if args.part == "speed":
        if not args.trl_python:
            parser.error("--part speed needs --trl-python")
        return print(json.dumps(speed_vs_trl(args, args.work / "speed"), indent=1))
    rm_part(args, args.work)


def sft_part(args: argparse.Namespace, work: Path) -> None:
    """SFT data kept apart from the comparisons the reward model and PPO are judged on."""
    stage(work, "data_chat", "data", "chat", *SFT_DATA, "-o", work / "chat", "--oasst-branch", "all")
    stage(work, "sft", "sft", args.base, "--data", work / "chat", "--out", args.sft, "-r", "recipes/sft/instructgpt.toml",
          "--set", f"train.epochs={args.sft_epochs}", "--set", f"train.batch_size={args.sft_batch}",
          "--set", f"train.micro_batch={args.sft_batch}", "--set", f"train.optim.lr={args.sft_lr}", "--set", "train.model.dropout=0.0",
          "--set", "train.eval_interval=100", *cpu(args))  # fmt: skip
    summary = json.loads((args.sft / "manifest.json").read_text())["summary"]
    print(json.dumps({k: summary[k] for k in ("step", "final_loss", "final_val_loss", "best_val_loss")}))


def rm_part(args: argparse.Namespace, work: Path) -> None:
    stage(work, "data_prefs", "data", "prefs", DATA / "helpful-base" / "test.jsonl.gz",
          DATA / "harmless-base" / "test.jsonl.gz", "--out", work / "prefs", "--val-fraction", 0.5)  # fmt: skip
    rm_train_eval(args, work, work / "prefs")


def rm_train_eval(args: argparse.Namespace, work: Path, held_out: Path) -> None:
    """``rm train`` on WORK/prefs into WORK/rm, ``rm eval`` on the held-out split of ``held_out``."""
    stage(work, "rm_train", "rm", "train", args.sft, "--data", work / "prefs", "--out", work / "rm",
          "-r", "recipes/rlhf/rm.toml", "--set", f"train.epochs={args.rm_epochs}",
          "--set", f"train.batch_size={args.rm_batch}", "--set", f"train.optim.lr={args.rm_lr}",
          "--set", "train.eval_interval=0", "--set", "train.checkpoint.interval=25", *cpu(args))  # fmt: skip
    limit = ("--limit", args.eval_comparisons) if args.eval_comparisons else ()
    stage(work, "rm_eval", "rm", "eval", work / "rm", "--data", held_out, *limit, "--out", work / "rm_eval.json")
    print(json.dumps(json.loads((work / "rm_eval.json").read_text()), indent=1))


def ppo_part(args: argparse.Namespace, work: Path, reply: tuple[str, ...] = ()) -> None:
    """PPO against WORK/rm on the train prompts of WORK/prefs per β, judged on its held-out prompts;
    ``reply``: extra ``ppo`` settings, ``--max-tokens`` of the judge matching them."""
    results = {}
    max_tokens = [s.split("=")[1] for s in reply if s.startswith("ppo.max_tokens=")]
    judge = ("--sft", args.sft, "--prompts", work / "prefs", "--limit", args.eval_prompts,
             *(("--max-tokens", max_tokens[0]) if max_tokens else ()))  # fmt: skip
    per_rollout = 4 * args.ppo_rollout // 16  # ppo-trl.toml: 4 PPO epochs, minibatches of 16
    for beta in args.betas:
        run = work / f"ppo-beta{beta}"
        stage(work, f"ppo_beta{beta}", "ppo", args.sft, "--reward", work / "rm", "--prompts", work / "prefs",
              "--out", run, "-r", "recipes/rlhf/ppo-trl.toml", "--set", f"ppo.rollout_size={args.ppo_rollout}",
              f"--set=ppo.kl_coef={beta}", "--set", f"train.steps={args.ppo_steps}",
              "--set", f"train.optim.lr={args.ppo_lr}", *(f"--set={s}" for s in reply), *cpu(args))  # fmt: skip
        stage(work, f"judge_beta{beta}", "rm", "policy", work / "rm", run, *judge,
              "--out", work / f"ppo-beta{beta}_judged.json")  # fmt: skip
        results[f"ppo_beta{beta}"] = json.loads((work / f"ppo-beta{beta}_judged.json").read_text())
        results[f"ppo_beta{beta}"]["train_rollouts"] = [
            {k: m[k] for k in ("step", "rollout_reward", "rollout_kl", "rollout_response_length")}
            for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if (m["step"] - 1) % per_rollout == 0]  # fmt: skip
    (work / f"ppo_results_{'_'.join(map(str, args.betas))}.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


# -- TRL's sentiment demo on SST-2 --------------------------------------------------------------

SENTIMENT_PAIRS, SENTIMENT_HELD_OUT, SENTIMENT_TOKENS = 10000, 0.2, 24  # comparisons; their share held out; longest reply


def sst2_pairs(tsv: Path, out: Path, limit: int | None = None) -> Path:
    """Positive against negative SST-2 sentences (8+ words) as TRL-column comparisons; the prompt asks
    for a review beginning with a sentence's first 3 words, each beginning once (so train and held-out
    prompts stay disjoint), taken from the chosen and the rejected sentence in turn."""
    import csv

    with tsv.open(newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if len(r["sentence"].split()) >= 8]
    sentences = {label: [r["sentence"].strip() for r in rows if r["label"] == label] for label in ("0", "1")}
    seen: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for i, (good, bad) in enumerate(zip(sentences["1"], sentences["0"], strict=False)):
            begins = " ".join((good, bad)[i % 2].split()[:3])
            if begins in seen:
                continue
            seen.add(begins)
            prompt = f"Write a movie review that begins: {begins}"
            f.write(json.dumps({"prompt": prompt, "chosen": good, "rejected": bad}) + "\n")
            if len(seen) == limit:
                break
    return out


def sentiment_part(args: argparse.Namespace, work: Path) -> None:
    """A sentiment reward model from SST-2 and PPO against it: held-out reward before and after."""
    if not (work / "rm" / "reward.json").is_file():  # a finished reward model is shared by later β runs
        train = sst2_pairs(SST2 / "train.tsv", work / "sst2_train.jsonl", SENTIMENT_PAIRS)
        stage(work, "data_prefs", "data", "prefs", train, "--out", work / "prefs", "--val-fraction", SENTIMENT_HELD_OUT)
        dev = sst2_pairs(SST2 / "dev.tsv", work / "sst2_dev.jsonl")
        stage(work, "data_prefs_dev", "data", "prefs", dev, "--out", work / "dev", "--val-fraction", 0.999)
        rm_train_eval(args, work, work / "dev")
    ppo_part(args, work, (f"ppo.max_tokens={SENTIMENT_TOKENS}",))


# -- speed against TRL ------------------------------------------------------------------------

RM_BATCH, ROLLOUT, MINIBATCH = 16, 64, 16  # comparisons per RM step; PPO: prompts per rollout, episodes per step
STEPS_PER_ROLLOUT = 4 * ROLLOUT // MINIBATCH  # ppo-trl.toml's 4 PPO epochs
SAME = {"train.schedule.kind": "constant", "train.schedule.warmup_steps": 0, "train.optim.weight_decay": 0.0,
        "train.optim.grad_clip": 1.0, "train.model.dropout": 0.0, "train.eval_interval": 0,
        "train.checkpoint.interval": 0, "train.log_interval": 10}  # fmt: skip


def speed_inputs(args: argparse.Namespace, speed: Path) -> None:
    """The exported SFT model, and the token ids both trainers read: hh-rlhf pairs and PPO prompts."""
    from gptkit.chat.data import conversation_files
    from gptkit.chat.template import encode_chat, template_of
    from gptkit.model.store import load_model, resolve_model_dir
    from gptkit.rlhf.ppo import read_prompts
    from gptkit.rlhf.reward import read_comparisons, reply_ids

    speed.mkdir(parents=True, exist_ok=True)
    if not (speed / "hf" / "config.json").is_file():
        gptkit("export", args.sft, "--out", speed / "hf")
    gpt, tok = load_model(resolve_model_dir(args.sft))
    template, block = template_of(tok, args.sft), gpt.config.block_size
    with (speed / "pairs.jsonl").open("w") as f:
        for c in read_comparisons(conversation_files(args.work / "prefs", "train"), None):
            best, worst = sorted(range(2), key=lambda i: c["ranking"][i])
            ids = [reply_ids(tok, template, c["prompt"], c["completions"][i], block) for i in (best, worst)]
            f.write(json.dumps({"chosen_ids": ids[0], "rejected_ids": ids[1]}) + "\n")
    keep = block - 53
    with (speed / "prompts.jsonl").open("w") as f:
        for p in read_prompts(args.work / "prefs", "train")[: ROLLOUT * max(args.ppo_rollouts)]:
            f.write(json.dumps({"input_ids": encode_chat(tok, template, p, add_generation_prompt=True)[0][-keep:]}))
            f.write("\n")
    (speed / "stop_id").write_text(str(tok.encode("<|im_end|>")[0]))


def gptkit_timed(args: argparse.Namespace, speed: Path, part: str, size: int) -> tuple[float, float, float]:
    """``gptkit rm train`` (``size`` steps) or ``gptkit ppo`` (``size`` rollouts): wall and CPU seconds of
    the process and the seconds of its training loop."""
    out = speed / f"gptkit-{part}-{size}"
    sets = {**SAME, "train.dtype": "fp32", "train.device": "cpu", "train.threads": args.threads}
    if part == "rm":
        sets.update({"train.steps": size, "train.batch_size": RM_BATCH, "train.micro_batch": RM_BATCH,
                     "train.optim.lr": args.rm_lr, "rm.max_completions": 2})  # fmt: skip
        cmd = ["rm", "train", args.sft, "--data", args.work / "prefs", "--out", out]  # rm.toml sets epochs
    else:
        sets.update({"train.steps": size * STEPS_PER_ROLLOUT, "ppo.rollout_size": ROLLOUT, "ppo.sample_interval": 0,
                     "train.batch_size": MINIBATCH, "train.micro_batch": MINIBATCH})  # fmt: skip
        cmd = ["ppo", args.sft, "--reward", speed / f"gptkit-rm-{max(args.rm_steps)}", "--prompts",
               args.work / "prefs", "--out", out, "-r", "recipes/rlhf/ppo-trl.toml"]  # fmt: skip
    cmd = [sys.executable, "-m", "gptkit", "-q", *map(str, cmd), *(f for k, v in sets.items() for f in ("--set", f"{k}={v}"))]
    wall, cpu, _ = timed(cmd)
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    return wall, cpu, summary["tokens"] / summary["tokens_per_s"]  # the loop's seconds, as the trainer timed it


def trl_timed(args: argparse.Namespace, speed: Path, part: str, size: int) -> tuple[float, float, float]:
    """The same run with TRL's trainer, in its own venv (``_trl_rlhf.py``)."""
    from gptkit.config import load_recipe

    settings = {"part": part, "hf_dir": str(speed / "hf"), "out": str(speed / f"trl-{part}-{size}"),
                "threads": args.threads, "seed": 1337}  # fmt: skip
    if part == "rm":
        settings.update(data=str(speed / "pairs.jsonl"), steps=size, batch=RM_BATCH, lr=args.rm_lr)
    else:
        recipe = load_recipe(Path("recipes/rlhf/ppo-trl.toml"))
        ppo = {**recipe["ppo"], "rollout_size": ROLLOUT, "stop_token_id": int((speed / "stop_id").read_text())}
        settings.update(data=str(speed / "prompts.jsonl"), rollouts=size, batch=MINIBATCH, ppo=ppo,
                        lr=recipe["train"]["optim"]["lr"])  # fmt: skip
    path = speed / f"trl-{part}-{size}.json"
    path.write_text(json.dumps(settings))
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1"}
    if part == "ppo" and args.trl_ppo_path:
        env["PYTHONPATH"] = args.trl_ppo_path
    wall, cpu, stdout = timed([args.trl_python, str(Path(__file__).with_name("_trl_rlhf.py")), str(path)], env)
    inside = json.loads(stdout.strip().splitlines()[-1])
    print("  TRL inside train():", inside, flush=True)
    return wall, cpu, inside["wall_s"]


def speed_vs_trl(args: argparse.Namespace, speed: Path) -> dict:
    """Pairs/s (RM) and optimizer steps/s and episodes/s (PPO), gptkit against TRL, long minus short runs."""
    speed_inputs(args, speed)
    out: dict = {"load_average_before": os.getloadavg(), "threads": args.threads}
    for part, sizes in (("rm", args.rm_steps), ("ppo", args.ppo_rollouts)):
        runs: dict[str, dict[int, tuple[float, float, float]]] = {"gptkit": {}, "trl": {}}
        for size in sizes:  # alternate the two, short runs first
            runs["gptkit"][size] = gptkit_timed(args, speed, part, size)
            runs["trl"][size] = trl_timed(args, speed, part, size)
        short, long = sizes
        unit = RM_BATCH if part == "rm" else ROLLOUT  # pairs per step, episodes per rollout
        steps = 1 if part == "rm" else STEPS_PER_ROLLOUT  # optimizer steps per size unit
        for name, r in runs.items():
            extra_cpu = r[long][1] - r[short][1]
            out[f"{part}_{name}"] = {"loop_s": r[long][2], "per_s": long * unit / r[long][2],
                                     "steps_per_s": long * steps / r[long][2], "extra_cpu_s": extra_cpu,
                                     "per_cpu_s": (long - short) * unit / extra_cpu}  # fmt: skip
        g, t = out[f"{part}_gptkit"], out[f"{part}_trl"]
        out[f"{part}_ratio_per_s"], out[f"{part}_ratio_per_cpu_s"] = g["per_s"] / t["per_s"], g["per_cpu_s"] / t["per_cpu_s"]
    out["load_average_after"] = os.getloadavg()
    return out


if __name__ == "__main__":
    main()
