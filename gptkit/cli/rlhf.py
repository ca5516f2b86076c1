"""``gptkit data prefs``, ``gptkit rm train|eval|score`` and ``gptkit ppo``: InstructGPT steps 2 and 3."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App
from gptkit.cli.chat import print_split_summary
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, out

rm_app = App(no_args_is_help=True, help="Reward models: train on ranked comparisons, evaluate, score.")


def register_data(app: typer.Typer) -> None:
    """Add ``prefs`` to the ``data`` app."""
    app.command(name="prefs")(data_prefs)


def register(app: typer.Typer) -> None:
    """Add ``rm`` and ``ppo`` to the root app."""
    app.add_typer(rm_app, name="rm")
    app.command(name="ppo")(ppo)


def data_prefs(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Preference files (.jsonl[.gz|.zst…], .parquet), directories, globs or datasets folders."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory for the comparison shards.")] = None,
    val_fraction: Annotated[
        float | None, typer.Option("--val-fraction", min=0.0, max=0.999, help="Share held out (default 0.1).")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Turn human preferences into comparison shards that 'gptkit rm train' reads.

    Reads Anthropic hh-rlhf chosen/rejected transcripts, OpenAssistant trees (ranked sibling
    replies → K-wise comparisons) and records with named columns (prompt/chosen/rejected or
    prompt/completions/ranking). Writes OUT/train_*.jsonl.zst and OUT/val_*.jsonl.zst, one
    {"id", "group", "source", "prompt", "completions", "ranking"} per line (rank 0 = best), plus
    config.toml and manifest.json. Identical pairs and unreadable records are skipped and counted.

    Examples:

      gptkit data prefs ../shared/data/rlhf/hh-rlhf/helpful-base/test.jsonl.gz --out runs/r/prefs --val-fraction 0.5

      gptkit data prefs ../shared/data/rlhf/openassistant/en_100_tree.jsonl prefs.parquet -o prefs
    """
    from gptkit.config import resolve
    from gptkit.rlhf.prefs import PrefsConfig, prefs_data

    options = {"inputs": [str(p) for p in inputs] if inputs else None, "out": out_dir, "val_fraction": val_fraction}
    cfg = resolve(PrefsConfig, "prefs", recipe=recipe, options=options, overrides=overrides or [])
    summary = prefs_data(cfg, RichReporter())
    print_split_summary(summary, summary.comparisons, "comparisons")


def _split_sets(overrides: list[str] | None, section: str) -> tuple[list[str], list[str]]:
    sets = overrides or []
    return [s for s in sets if s.startswith(f"{section}.")], [s for s in sets if not s.startswith(f"{section}.")]


@rm_app.command(name="train")
def rm_train(
    model: Annotated[Path, typer.Argument(help="The SFT run (or model dir) the reward model starts from.")],
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Comparison shards from 'gptkit data prefs'.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (checkpoints, metrics).")] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Train a reward model on ranked comparisons (InstructGPT step 2); rerun to resume.

    A scalar head on the last token's hidden state of prompt + reply, the K-wise loss over all
    pairs of a prompt, the body from MODEL; the loop is 'gptkit train''s (train.* keys). When the
    run is done its reward is shifted so the best-ranked training replies average 0 (RUN/reward.json).

    Examples:

      gptkit rm train runs/c/sft --data runs/r/prefs --out runs/r/rm --recipe recipes/rlhf/rm.toml
    """
    from gptkit.config import resolve
    from gptkit.rlhf.reward import RMConfig
    from gptkit.rlhf.reward import rm_train as run_rm
    from gptkit.train.config import TrainConfig

    mine, rest = _split_sets(overrides, "rm")
    cfg = resolve(RMConfig, "rm", recipe=recipe, overrides=mine, options={"model": model, "data": data})
    train_cfg = resolve(TrainConfig, "train", recipe=recipe, options={"out": out_dir}, overrides=rest)
    summary = run_rm(cfg, train_cfg, RichReporter())
    val = "n/a" if summary.final_val_loss is None else f"{summary.final_val_loss:.4f}"
    state = "done" if summary.step >= summary.steps else f"paused at step {summary.step} (rerun to resume)"
    out.print(f"{state}: step {summary.step}/{summary.steps}  val loss {val}  → {summary.run_dir}")


@rm_app.command(name="eval")
def rm_eval(
    run: Annotated[Path, typer.Argument(help="A 'gptkit rm train' run.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Comparison shards from 'gptkit data prefs'.")],
    split: Annotated[str, typer.Option("--split", help="'val' (held out, default) or 'train'.")] = "val",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="First N comparisons only.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the results as JSON here.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
) -> None:
    """Pairwise accuracy, margin and accuracy by K of a reward model, against "longer answer wins".

    Example:

      gptkit rm eval runs/r/rm --data runs/r/prefs --out runs/r/rm_eval.json
    """
    from gptkit.io.atomic import atomic_write_json
    from gptkit.rlhf.reward import rm_eval as evaluate
    from gptkit.runtime import resolve_device

    result = evaluate(run, data, split, resolve_device(device), limit)
    if out_file is not None:
        atomic_write_json(out_file, result)
    by_k = ", ".join(f"K={k} {v:.3f}" for k, v in result["accuracy_by_k"].items())
    out.print(f"{result['pairs']:,} pairs of {result['comparisons']:,} comparisons: accuracy {result['accuracy']:.4f} "
              f"(longer answer wins {result['length_baseline_accuracy']:.4f}), margin {result['margin']:.4f}  "
              f"| {by_k}")  # fmt: skip


@rm_app.command(name="score")
def rm_score(
    run: Annotated[Path, typer.Argument(help="A 'gptkit rm train' run.")],
    file: Annotated[Path, typer.Argument(help="JSON lines: {'prompt', 'completion'} or {'messages': [...]}.")],
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
) -> None:
    """Score replies: each input line is printed back with a "reward" field.

    Example:

      gptkit rm score runs/r/rm answers.jsonl > scored.jsonl
    """
    from gptkit.io.shards import iter_jsonl
    from gptkit.rlhf.reward import load_reward_model, read_score_items, score_replies
    from gptkit.runtime import resolve_device

    items = read_score_items(file)
    rm, tok, template = load_reward_model(run, resolve_device(device))
    rewards = score_replies(rm, tok, template, items)
    for (_, obj), reward in zip(iter_jsonl(file), rewards, strict=True):
        sys.stdout.write(json.dumps({**obj, "reward": reward}, ensure_ascii=False) + "\n")


def ppo(
    model: Annotated[Path, typer.Argument(help="The SFT run: initial policy and frozen KL reference.")],
    reward: Annotated[
        str | None, typer.Option("--reward", help="A 'gptkit rm train' run, or regex:PATTERN (count of matches).")
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="'gptkit data prefs' or 'data chat' output (its prompts).")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (checkpoints, metrics).")] = None,
    ptx_data: Annotated[
        Path | None, typer.Option("--ptx-data", help="Pre-training tokens ('gptkit data pack') for PPO-ptx.")
    ] = None,
    ptx_coef: Annotated[float | None, typer.Option("--ptx-coef", min=0.0, help="γ of the pre-training mix.")] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Fine-tune the SFT policy with PPO against a reward model (InstructGPT step 3); rerun to resume.

    Rollouts come from the shared decoder; the reward is the reward model's score minus β × the
    exact per-token KL to the SFT model; values from a copy of the reward model; GAE; clipped
    policy and value losses over ppo.ppo_epochs passes per rollout; the loop is 'gptkit
    train''s (train.* keys: lr, steps, micro_batch…). Metrics per step: rollout_reward,
    rollout_kl, entropy, clip_fraction, value_loss, rollout_response_length; samples in
    RUN/rollouts.jsonl.

    Examples:

      gptkit ppo runs/c/sft --reward runs/r/rm --prompts runs/r/prefs --out runs/r/ppo --recipe recipes/rlhf/trl.toml

      gptkit ppo runs/c/sft -r runs/r/rm -p prefs -o ppo --ptx-data runs/q/tokens --ptx-coef 27.8
    """
    from gptkit.config import resolve
    from gptkit.rlhf.ppo import PPOConfig
    from gptkit.rlhf.ppo import ppo as run_ppo
    from gptkit.train.config import TrainConfig

    mine, rest = _split_sets(overrides, "ppo")
    cfg = resolve(PPOConfig, "ppo", recipe=recipe, overrides=mine,
                  options={"model": model, "reward": reward, "prompts": prompts, "ptx_data": ptx_data,
                           "ptx_coef": ptx_coef})  # fmt: skip
    train_cfg = resolve(TrainConfig, "train", recipe=recipe, options={"out": out_dir}, overrides=rest)
    summary = run_ppo(cfg, train_cfg, RichReporter())
    state = "done" if summary.step >= summary.steps else f"paused at step {summary.step} (rerun to resume)"
    out.print(f"{state}: step {summary.step}/{summary.steps}  → {summary.run_dir}")


@rm_app.command(name="policy")
def rm_policy(
    run: Annotated[Path, typer.Argument(help="A 'gptkit rm train' run (or regex:PATTERN) that judges.")],
    policy: Annotated[Path, typer.Argument(help="The policy: a 'gptkit ppo' run or any model with the SFT template.")],
    sft: Annotated[Path, typer.Option("--sft", help="The SFT run: KL reference and the replies to beat.")],
    prompts: Annotated[Path, typer.Option("--prompts", help="'gptkit data prefs' or 'data chat' output.")],
    split: Annotated[str, typer.Option("--split", help="Prompts of 'val' (held out, default) or 'train'.")] = "val",
    limit: Annotated[int, typer.Option("--limit", min=1, help="First N prompts of the split.")] = 64,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Longest reply.")] = 53,
    temperature: Annotated[float, typer.Option("--temperature", min=0.01, help="Sampling temperature.")] = 0.7,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling (same for both models).")] = 0,
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the results as JSON here.")] = None,
) -> None:
    """Judge a policy with a reward model on held-out prompts.

    Prints the policy's mean reward (and the SFT model's), its KL to the SFT model and its win
    rate against the SFT model's replies (sampled with the same seeds).

    Example:

      gptkit rm policy runs/r/rm runs/r/ppo --sft runs/c/sft --prompts runs/r/prefs --out runs/r/ppo_eval.json
    """
    from gptkit.io.atomic import atomic_write_json
    from gptkit.rlhf.ppo import PPOConfig, evaluate_policy

    cfg = PPOConfig(model=sft, reward=str(run), prompts=prompts, max_tokens=max_tokens, temperature=temperature)
    result = evaluate_policy(policy, cfg, split, limit, seed)
    if out_file is not None:
        atomic_write_json(out_file, result)
    out.print(f"{result['prompts']} {split} prompts: mean reward {result['mean_reward']:.4f} "
              f"(SFT {result['sft_mean_reward']:.4f}), win rate vs SFT {result['win_rate_vs_sft']:.3f}, "
              f"KL to SFT {result['mean_kl']:.4f}, reply length {result['mean_response_length']:.1f} "
              f"(SFT {result['sft_mean_response_length']:.1f})")  # fmt: skip
