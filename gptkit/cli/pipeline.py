"""``gptkit quickstart`` and ``gptkit run RECIPE``: whole pipelines in one run directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.ui import RichReporter, SetOpt, WorkersOpt, out
from gptkit.errors import UsageError

#: Recipes live at the top of a gptkit checkout (the README's set-up installs it editable).
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def register(app: typer.Typer) -> None:
    app.command(name="quickstart")(quickstart)
    app.command(name="run")(run)


def quickstart(
    run_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory.")] = Path("runs/quickstart"),
    workers: WorkersOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Raw web pages → evaluated GPT on the bundled sample: 8 min 42 s on 2 idle cores (measured).

    Serves the bundled pages (CC BY-SA web pages and Wikipedia, public-domain novels) on a local
    HTTP server and crawls them, extracts and cleans the text (with LAMBADA decontamination),
    trains a tokenizer, packs tokens, trains a 1.3M-parameter GPT on 4.5M tokens, samples from it
    and evaluates 0-shot LAMBADA on 300 passages (times measured: docs/benchmarks.md). Everything goes to one
    run directory with report.html; a second run skips finished stages, an interrupted one
    continues. It is `gptkit run recipes/quickstart.toml`.

    Examples:

      gptkit quickstart

      gptkit quickstart --out runs/qs2 --set train.steps=100 --set eval.limit=100
    """
    _run(RECIPES / "quickstart.toml", run_dir, overrides, workers)


def run(
    recipe: Annotated[Path, typer.Argument(help="Pipeline recipe (TOML with a \\[run] table listing the stages).")],
    run_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (default: runs/<run.name>).")] = None,
    workers: WorkersOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Run the stages a recipe lists, in order, each skipped when its output is already complete.

    Stages: site, urls, crawl, extract, clean, tokenizer, pack, train, generate, eval. Each
    reads the previous stage's folder in the run directory and writes its own; the recipe's
    table for a stage holds that stage's config, and --set SECTION.KEY=VALUE overrides it.
    Ends with report.html and report.md (funnel, loss curve, sample, eval table).

    Examples:

      gptkit run recipes/quickstart.toml --out runs/mine

      gptkit run recipes/quickstart.toml --set train.steps=2000 --set train.model.preset=mini
    """
    _run(recipe, run_dir, overrides, workers)


def _run(recipe: Path, run_dir: Path | None, overrides: list[str] | None, workers: int | None) -> None:
    from gptkit.pipeline.run import run_pipeline

    if not recipe.is_file():
        raise UsageError(f"recipe not found: {recipe}")
    report = run_pipeline(recipe, run_dir, overrides or [], RichReporter(), workers or os.cpu_count() or 1)
    _print_summary(report)


def _print_summary(report) -> None:
    from rich.table import Table

    table = Table(title=report.title, title_justify="left")
    for col in ("stage", "seconds", "CPU s", "status", "summary"):
        table.add_column(col)
    for s in report.stages:
        summary = ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v:.4g}" if isinstance(v, float)
                            else f"{k}: {v}" for k, v in s.summary.items())  # fmt: skip
        cpu = "" if s.cpu_seconds is None else f"{s.cpu_seconds:.1f}"
        table.add_row(s.name, f"{s.seconds:.1f}", cpu, s.status, summary)
    out.print(table)
    if report.funnel:
        out.print("[bold]documents:[/] " + " → ".join(f"{s.documents:,} {s.label}" for s in report.funnel))
    if report.loss_curve:
        (s0, l0, _), (s1, l1, _) = report.loss_curve[0], report.loss_curve[-1]
        out.print(f"[bold]loss:[/] {_sparkline([t for _, t, _ in report.loss_curve])}  {l0:.3f} (step {s0}) → {l1:.3f} (step {s1})")
    if report.sample:
        out.print(f"[bold]sample:[/] {report.sample}")
    for row in report.eval_rows:
        unit = " %" if row["percent"] else ""
        out.print(f"[bold]{row['task']}[/] {row['metric']} = {row['value']:.4g}{unit}   published: {row.get('reference', '')}")
    for what, value in report.overview:
        out.print(f"[bold]{what}:[/] {value}", markup=True, highlight=False)
    out.print(f"report: {report.run_dir / 'report.html'}")


def _sparkline(values: list[float], width: int = 40) -> str:
    bars = "▁▂▃▄▅▆▇█"
    step = max(1, len(values) // width)
    picked = values[::step]
    lo, hi = min(picked), max(picked)
    return "".join(bars[int((v - lo) / (hi - lo + 1e-12) * (len(bars) - 1))] for v in picked)
