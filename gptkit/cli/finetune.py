"""``gptkit finetune``: GPT-1's supervised fine-tuning, and predictions of a fine-tuned run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App, Group
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, already_complete, err, out


class _RunByDefault(Group):
    """``gptkit finetune MODEL …`` means ``gptkit finetune run MODEL …``; ``predict`` is the other command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = App(cls=_RunByDefault, no_args_is_help=True,
          help="GPT-1 fine-tuning: gptkit finetune MODEL --task T --data DIR --out RUN; then predict.")  # fmt: skip


def register(root: typer.Typer) -> None:
    """Add ``finetune`` to ``root``."""
    root.add_typer(app, name="finetune")


@app.command(name="run")
def run(
    model: Annotated[Path, typer.Argument(help="A gptkit model or run directory, or a transformers GPT-1/GPT-2 directory.")],
    task: Annotated[str | None, typer.Option("--task", help="sst2, cola, rte, mnli, qnli, snli, scitail, mrpc, qqp, stsb, storycloze or race.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (checkpoints, metrics, results.json).")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="The task's data directory (see docs/finetune.md).")] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Fine-tune MODEL on a task with GPT-1's input transforms, head and auxiliary LM loss.

    Paper defaults (recipes/finetune/gpt1.toml): lr 6.25e-5, batch 32, 3 epochs, warmup 0.2% then
    linear decay, classifier dropout 0.1, λ 0.5 (--set finetune.lm_weight=0 turns the LM loss off),
    512 tokens. Trainer settings: --set finetune.train.KEY=VALUE (device, threads, micro_batch …).
    Writes RUN/results.json, RUN/checkpoints/ (model + tokenizer with the task tokens + head),
    RUN/metrics.jsonl with each epoch's scores, RUN/manifest.json. Rerun to resume.

    Examples:

      gptkit finetune runs/q/train --task sst2 --data glue/SST-2 --out runs/sst2

      gptkit finetune run hf/gpt2 -t race -d RACE -o runs/race --set finetune.train.device=cuda
    """
    from gptkit.config import resolve
    from gptkit.finetune.config import FinetuneConfig
    from gptkit.finetune.run import finetune

    options = {"model": model, "task": task, "out": out_dir, "data": data}
    cfg = resolve(FinetuneConfig, "finetune", recipe=recipe, options=options, overrides=overrides or [])
    main_process = int(os.environ.get("RANK", "0")) == 0
    summary = finetune(cfg, RichReporter()) if main_process else finetune(cfg)
    if not main_process:
        return
    if summary.reused:
        already_complete(summary.run_dir, same="model, data and settings")
    if summary.results is None:
        out.print(f"paused at step {summary.step}/{summary.steps} (rerun to resume) → {summary.run_dir}")
        return
    for split, scores in summary.results["splits"].items():
        shown = "  ".join(f"{k} {v:.4f}" for k, v in scores.items() if k != "n")
        out.print(f"{summary.task} {split} (n={scores['n']}): {shown}")
    out.print(f"results: {summary.run_dir / 'results.json'}")


@app.command(name="predict")
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A fine-tuning run directory (gptkit finetune --out).")],
    file: Annotated[Path, typer.Argument(help="Examples: the task's own format (TSV, CSV, RACE folder), .jsonl or .parquet.")],
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Predictions JSONL. \\[default: RUN/predictions/FILE.jsonl]")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Write one JSON line per example of FILE: its source (file:line), the prediction (label
    name, 0-based option index or score) and, where FILE has one, the gold label.

    Example:

      gptkit finetune predict runs/sst2 glue/SST-2/test.tsv --out sst2-test.jsonl
    """
    from gptkit.finetune.predict import predict_file

    target = out_path or run_dir / "predictions" / f"{file.name}.jsonl"
    n = predict_file(run_dir, file, target, device)
    out.print(f"{n} predictions → {target}")
    if n == 0:
        err.print(f"[yellow]warning:[/] {file} holds no examples")
