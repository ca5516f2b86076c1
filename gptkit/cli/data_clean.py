"""``gptkit data clean`` and ``gptkit data overlap``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.executor_opts import resolve_executor, with_executor_options
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, WorkersOpt, already_complete, err, info, out


def register(app: typer.Typer) -> None:
    """Add ``clean`` and ``overlap`` to the ``data`` app."""
    app.command(name="clean")(clean)
    app.command(name="overlap")(overlap)


@with_executor_options
def clean(
    inputs: Annotated[list[str], typer.Argument(
        help="Document files or folders (.jsonl[.zst|.gz], .txt); s3://, gs://, hf:// URLs too.", show_default=False)],
    out_dir: Annotated[str, typer.Option("--out", "-o", help="Output folder or s3://, gs:// URL (re-running resumes).")],
    recipe: RecipeOpt = None,
    decontaminate: Annotated[
        list[Path] | None,
        typer.Option("--decontaminate", help="Eval set to remove (LAMBADA .jsonl, CoQA .json, .txt lines); repeatable."),
    ] = None,
    keep_removed: Annotated[
        bool | None, typer.Option("--keep-removed/--no-keep-removed", help="Write dropped documents to removed/<step>/.")
    ] = None,
    pii: Annotated[bool | None, typer.Option("--pii/--no-pii", help="Mask emails and public IP addresses.")] = None,
    tasks: Annotated[int | None, typer.Option("--num-tasks", min=0, help="Split the inputs into N tasks (default: one per file).")] = None,
    task_range: Annotated[
        str | None, typer.Option("--task-range", metavar="A:B", help="Run only tasks A..B-1 (machines sharing a filesystem).")
    ] = None,
    workers: WorkersOpt = None,
    overrides: SetOpt = None,
    executor_options: dict | None = None,
) -> None:
    """Filter, deduplicate and decontaminate documents the way FineWeb does, corpus-wide.

    Steps (default order; clean.steps reorders them or leaves some out): URL block-list → fastText language id (score ≥ 0.65)
    → Gopher repetition → Gopher quality → C4 → FineWeb filters → exact dedup → MinHash LSH
    near dedup (14 bands × 8) → GPT-3 13-gram decontamination → PII masking. Writes kept
    documents as NNNNN.jsonl.zst, stats.json (counts and bytes per step and drop reason),
    funnel.png and manifest.json. A killed run resumes where it stopped.

    Examples:

      gptkit data clean runs/w/docs --out runs/w/clean --decontaminate lambada_test.jsonl

      gptkit data clean shards/ -o clean/ -r recipes/clean/fineweb.toml --set clean.language.languages='["en","de"]'

      gptkit data clean shards/ -o clean/ --num-tasks 64 --task-range 0:32 --workers 16   # machine 1 of 2

      gptkit data clean shards/ -o clean/ --executor ray --ray-address auto --cpus-per-task 1

      gptkit data clean shards/ -o clean/ --executor slurm --partition cpu --time 02:00:00 --workers 200

      gptkit data clean s3://bucket/docs/ -o s3://bucket/clean/

      gptkit data clean shards/ -o clean/ --set 'clean.steps=["c4","language","exact_dedup"]'
    """
    from gptkit.config import resolve
    from gptkit.data.clean import CleanConfig
    from gptkit.data.clean import clean as run_clean
    from gptkit.io.remote import local_stage

    options = {
        "keep_removed": keep_removed,
        "pii.enabled": pii,
        "tasks": tasks,
        "decontaminate.eval_files": [str(p) for p in decontaminate] if decontaminate else None,
    }
    executor, overrides = resolve_executor(recipe, executor_options or {}, overrides)
    cfg = resolve(CleanConfig, "clean", recipe, options, overrides)
    with local_stage(inputs, out_dir) as (local_inputs, local_out):
        summary = run_clean(local_inputs, local_out, cfg, RichReporter(), workers=workers or os.cpu_count() or 1,
                            task_range=task_range, executor=executor)  # fmt: skip
    if summary.pending:
        info(f"[yellow]partial:[/] {summary.pending}; rerun when they are done to finish {out_dir}")
        return
    if summary.reused:
        already_complete(out_dir)
    _print_summary(summary.stats)
    out.print(f"{summary.stats['documents_out']:,} documents → {out_dir}")


def _print_summary(stats: dict) -> None:
    from rich.table import Table

    table = Table(title="data clean", title_justify="left")
    for col in ("step", "docs in", "docs out", "kept %", "MB out", "top drop reasons"):
        table.add_column(col, justify="left" if col in ("step", "top drop reasons") else "right")
    for name, s in stats["steps"].items():
        reasons = sorted(s["dropped"].items(), key=lambda kv: -kv[1])[:3]
        pct = 100.0 * s["docs_out"] / s["docs_in"] if s["docs_in"] else 100.0
        table.add_row(
            name, f"{s['docs_in']:,}", f"{s['docs_out']:,}", f"{pct:.1f}", f"{s['bytes_out'] / 1e6:,.2f}",
            ", ".join(f"{r} {n:,}" for r, n in reasons),
        )  # fmt: skip
    err.print(table)
    issues = stats["input_issues"]
    if issues["total"]:
        err.print(f"[yellow]bad input skipped:[/] {issues['total']:,} ({', '.join(f'{k} {v}' for k, v in issues['by_reason'].items())})")
        for example in issues["examples"][:5]:
            err.print(f"  {example}", markup=False)


@with_executor_options
def overlap(
    corpus: Annotated[list[Path], typer.Argument(help="Training documents (files or folders).", show_default=False)],
    eval_file: Annotated[Path, typer.Option("--eval", "-e", help="Eval set (LAMBADA .jsonl, CoQA .json, .txt lines).")],
    ngram: Annotated[int | None, typer.Option("--ngram", min=1, help="n-gram length (GPT-2 used 8). \\[default: 8]")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON here; REPORT.tasks/ holds the tasks' results until it is written (on the shared filesystem for --executor slurm, which needs it).")] = None,
    workers: WorkersOpt = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
    executor_options: dict | None = None,
) -> None:
    """Report GPT-2-style n-gram overlap between a corpus and an eval set.

    Prints the share of the eval set's 8-grams (lowercased, punctuation-stripped words) found in
    the corpus, the mean overlap per eval document, and the share of eval documents touched.

    Examples:

      gptkit data overlap runs/w/clean --eval ../shared/data/lambada/lambada_test.jsonl

      gptkit data overlap corpus/ --eval test.txt --ngram 13 --report overlap.json

      gptkit data overlap corpus/ --eval test.txt --set overlap.ngram=13
    """
    from gptkit.config import resolve
    from gptkit.data.clean import overlap_report
    from gptkit.data.clean.overlap import OverlapConfig
    from gptkit.io.atomic import atomic_write_json

    executor, rest = resolve_executor(recipe, executor_options or {}, overrides)
    cfg = resolve(OverlapConfig, "overlap", recipe, {"ngram": ngram, "report": report}, rest)
    tasks_dir = cfg.report.with_name(f"{cfg.report.name}.tasks") if cfg.report is not None else None
    result = overlap_report(corpus, eval_file, cfg.ngram, workers or os.cpu_count() or 1, RichReporter(), executor,
                            tasks_dir)  # fmt: skip
    if cfg.report is not None:
        atomic_write_json(cfg.report, result)
    from rich.table import Table

    table = Table(title=f"{cfg.ngram}-gram overlap with {eval_file.name}", title_justify="left", show_header=False)
    for key, value in result.items():
        table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    out.print(table)
