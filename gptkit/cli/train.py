"""``gptkit train``: pretrain (or resume, or fine-tune) a GPT on packed token shards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, out


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command(name="train")(train)


def train(
    recipe: RecipeOpt = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Token directory from 'gptkit data pack'.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (checkpoints, metrics, loss.png).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Optimizer steps of the whole run.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads per process.")] = None,
    init_from: Annotated[
        Path | None, typer.Option("--init-from", help="Start from these weights (gptkit model/run dir or HF GPT-2 dir).")
    ] = None,
    resume: Annotated[
        bool | None, typer.Option("--resume/--no-resume", help="Continue from the run's latest checkpoint (default: yes).")
    ] = None,
    overrides: SetOpt = None,
) -> None:
    """Train a GPT on token shards; rerun the same command to resume exactly where it stopped.

    Every key of the recipe's 'train' table can be overridden with --set train.KEY=VALUE
    (nested: train.optim.lr, train.model.n_layer, train.checkpoint.interval …). Writes
    RUN/checkpoints/step_*/ (model, optimizer, loader and RNG state), RUN/metrics.jsonl,
    RUN/samples.jsonl, RUN/loss.png, RUN/config.toml and RUN/manifest.json.
    Run it under torchrun for DDP or FSDP (see docs/distributed.md).

    Examples:

      gptkit train --recipe recipes/train/tiny-cpu.toml --data runs/q/tokens --out runs/q/train

      gptkit train -r recipes/train/tiny-cpu.toml --set train.steps=2000 --set train.optim.lr=1e-3

      torchrun --nproc_per_node 8 -m gptkit train -r recipes/train/gpt2-small.toml --set train.distributed=ddp
    """
    from gptkit.config import resolve
    from gptkit.train.config import TrainConfig
    from gptkit.train.trainer import train as run_training

    options = {"data": data, "out": out_dir, "steps": steps, "device": device, "threads": threads,
               "init_from": init_from, "resume": resume}  # fmt: skip
    cfg = resolve(TrainConfig, "train", recipe=recipe, options=options, overrides=overrides or [])
    main_process = int(os.environ.get("RANK", "0")) == 0
    reporter = RichReporter(plain_interval=0) if main_process else None  # train.log_interval paces its lines
    summary = run_training(cfg, reporter) if reporter else run_training(cfg)
    if not main_process:
        return
    val = "n/a" if summary.final_val_loss is None else f"{summary.final_val_loss:.4f}"
    mfu = "n/a" if summary.mfu is None else f"{100 * summary.mfu:.1f}%"
    loss = "n/a" if summary.final_loss is None else f"{summary.final_loss:.4f}"
    state = "done" if summary.step >= summary.steps else f"paused at step {summary.step} (rerun to resume)"
    out.print(f"{state}: step {summary.step}/{summary.steps}  loss {loss}  val {val}  "
              f"{summary.tokens_per_s:,.0f} tok/s  MFU {mfu}  → {summary.run_dir}")  # fmt: skip
