"""Run a whole pipeline recipe: every stage in order, in one run directory, then a report.

A pipeline recipe is a TOML file with a ``[run]`` table naming the stages, and one table per
stage holding that stage's config (the same keys as ``gptkit <stage> --recipe``)::

    [run]
    name = "quickstart"
    stages = ["site", "urls", "crawl", "extract", "clean", "tokenizer", "pack", "train", "generate", "eval"]

    [train]
    steps = 300

Each stage reads the previous stage's folder and writes ``RUN/<stage>/``; the wiring of inputs
and outputs is a default that the recipe may override. Every stage skips itself when its
output is complete for the same config and inputs (its manifest says so) and resumes when it is
partial, so a second run is fast and an interrupted one continues. ``site`` is the quickstart's
own stage: it renders the bundled sample documents as a web site that ``crawl`` fetches from a
local HTTP server.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptkit.config import apply_overrides, build, load_recipe, merge_tables, parse_override
from gptkit.errors import ConfigError
from gptkit.io.atomic import atomic_write_json, atomic_write_text
from gptkit.pipeline import site
from gptkit.pipeline.report import (
    Report,
    StageRecord,
    read_funnel,
    read_loss_curve,
    read_overview,
    read_versions,
    write_report,
)
from gptkit.reporting import NULL_REPORTER, Reporter

STATE_DIR = ".stages"


@dataclass
class RunSection:
    name: str = "run"
    stages: list[str] = field(default_factory=list)


@dataclass
class SiteSection:
    """The quickstart's sample web site (the bundled documents as HTML pages)."""

    pages: int | None = None  # how many documents become pages (None: all 1,283)
    port: int = 8765  # 127.0.0.1 port it is served on while crawling (0: any free port)


@dataclass
class GenerateSection:
    prompt: str = "The"
    max_tokens: int = 60
    temperature: float = 0.8
    top_k: int | None = 40
    top_p: float | None = None
    seed: int = 0


@dataclass
class RunContext:
    run_dir: Path
    recipe: dict[str, Any]
    overrides: list[str]
    reporter: Reporter
    workers: int

    def path(self, stage: str) -> Path:
        return self.run_dir / stage

    def config(self, section: str, wired: dict[str, Any] | None = None) -> Any:
        """The config of ``section``: wired defaults < recipe[section] < --set section.*."""
        return stage_config(section, self.recipe, self.overrides, wired, self.run_dir)


def run_pipeline(
    recipe_path: str | Path, run_dir: str | Path | None = None, overrides: list[str] | None = None,
    reporter: Reporter = NULL_REPORTER, workers: int = 1,
) -> Report:  # fmt: skip
    """Run the stages of ``recipe_path`` into ``run_dir`` (default ``runs/<run.name>``)."""
    recipe = load_recipe(recipe_path)
    overrides = list(overrides or [])
    known = set(CONFIG_CLASSES) | {"run"}
    for item in overrides:
        section = parse_override(item)[0][0]
        if section not in known:
            raise ConfigError(f"--set {item!r}: unknown section '{section}' (known: {', '.join(sorted(known))})")
    for section in recipe:
        if section not in known:
            raise ConfigError(f"{recipe_path}: unknown table [{section}] (known: {', '.join(sorted(known))})")
    run = build(RunSection, apply_overrides({"run": recipe.get("run", {})}, _only(overrides, "run"))["run"], "run")
    for name in run.stages:
        if name not in STAGES:
            raise ConfigError(f"run.stages: unknown stage {name!r} (known: {', '.join(STAGES)})")
    for section in {*run.stages, *recipe} - {"run"}:  # a typo fails now, not after hours of training
        stage_config(section, recipe, overrides)
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    recipe_text = Path(recipe_path).read_text(encoding="utf-8")
    atomic_write_text(run_dir / "recipe.toml", recipe_text)
    ctx = RunContext(run_dir, recipe, overrides, reporter, workers)

    report = Report(title=f"gptkit run: {run.name}", run_dir=run_dir)
    for name in run.stages:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        reporter.log(f"[bold]▶ {name}[/]")
        reused, summary = STAGES[name](ctx)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
        record = StageRecord(name, "skipped" if reused else "ran", seconds, summary, cpu)
        if record.status == "skipped":  # show the time and figures of the run that made it
            record.seconds, record.cpu_seconds, record.summary = _previous_run(run_dir, record)
        else:
            state = {"seconds": seconds, "cpu_seconds": cpu, "summary": summary}
            atomic_write_json(run_dir / STATE_DIR / f"{name}.json", state)
        reporter.log(f"  {name}: {record.seconds:.1f} s  {_short(record.summary)}")
        report.stages.append(record)

    _fill_report(report, run_dir, recipe_text, overrides)
    write_report(report, run_dir)
    return report


#: The config class of each stage's recipe table ("module:Class", imported when needed).
CONFIG_CLASSES = {
    "site": "gptkit.pipeline.run:SiteSection",
    "executor": "gptkit.exec.config:ExecutorConfig",  # where extract, clean and pack run their tasks
    "urls": "gptkit.data.urls:UrlsConfig",
    "crawl": "gptkit.data.crawl.config:CrawlConfig",
    "extract": "gptkit.data.extract.runner:ExtractConfig",
    "clean": "gptkit.data.clean.config:CleanConfig",
    "tokenizer": "gptkit.tokenizer.config:TrainTokenizerConfig",
    "pack": "gptkit.pack.config:PackConfig",
    "train": "gptkit.train.config:TrainConfig",
    "generate": "gptkit.pipeline.run:GenerateSection",
    "eval": "gptkit.eval.config:EvalConfig",
    "chat_data": "gptkit.chat.data:ChatDataConfig",
    "sft": "gptkit.chat.sft:SFTConfig",
    "finetune": "gptkit.finetune.config:FinetuneConfig",
    "scale": "gptkit.scale.config:ScaleConfig",  # gptkit scale sweep (not a pipeline stage)
    "prefs": "gptkit.rlhf.prefs:PrefsConfig",
    "rm": "gptkit.rlhf.reward:RMConfig",
    "ppo": "gptkit.rlhf.ppo:PPOConfig",
}


def stage_config(section: str, recipe: dict[str, Any], overrides: list[str], wired: dict[str, Any] | None = None,
                 run_dir: Path | None = None) -> Any:  # fmt: skip
    """Build the config of ``section`` from wired defaults, the recipe's table and ``--set`` items.

    A string value ``@<stage>`` names that stage's folder in ``run_dir``, ``@samples/<file>`` a
    file bundled with gptkit (the quickstart's sample WARC and LAMBADA set)."""
    module, _, name = CONFIG_CLASSES[section].partition(":")
    cls = getattr(importlib.import_module(module), name)
    data = merge_tables(wired or {}, recipe.get(section, {}))
    data = apply_overrides({section: data}, _only(overrides, section))[section]
    return build(cls, _expand_refs(data, run_dir or Path("runs") / "RUN"), section)


def _expand_refs(value: Any, run_dir: Path) -> Any:
    if isinstance(value, dict):
        return {k: _expand_refs(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_refs(v, run_dir) for v in value]
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    ref = value[1:]
    if ref.startswith("samples/"):
        return str(site.sample_path(ref.removeprefix("samples/")))
    if ref not in STAGES:
        raise ConfigError(f"{value!r}: unknown reference (use @samples/FILE or @STAGE, one of {', '.join(STAGES)})")
    return str(run_dir / ref)


def _only(overrides: list[str], section: str) -> list[str]:
    return [o for o in overrides if o.startswith(section + ".")]


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have ended (workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _previous_run(run_dir: Path, record: StageRecord) -> tuple[float, float | None, dict]:
    """Seconds, CPU seconds and summary the stage recorded when it ran (``record``'s if unknown)."""
    path = run_dir / STATE_DIR / f"{record.name}.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        cpu = state.get("cpu_seconds")
        return float(state["seconds"]), None if cpu is None else float(cpu), dict(state["summary"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return record.seconds, record.cpu_seconds, record.summary


def _short(summary: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in summary.items())


# -- stages ---------------------------------------------------------------------------------------


def stage_site(ctx: RunContext) -> tuple[bool, dict]:
    cfg = ctx.config("site")
    out = ctx.path("site")
    urls_file = out / "urls.txt"
    done = urls_file.is_file()
    if not done:
        paths = site.build_site(out, cfg.pages)
        atomic_write_text(urls_file, "".join(f"{p}\n" for p in [*paths, "/private/secret.html"]))
    pages = sum(1 for _ in (out / "pages").iterdir())
    return done, {"pages": pages}


def stage_urls(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.data.urls import collect_urls

    site_cfg = ctx.config("site")
    inputs = [ctx.path("site") / "urls.txt"]
    if (ctx.path("site") / "urls.txt").is_file():  # the site's paths become URLs on its local server
        inputs = [_site_url_list(ctx, site_cfg.port)]
    cfg = ctx.config("urls", {"inputs": [str(p) for p in inputs], "out": str(ctx.path("urls"))})
    summary = collect_urls(cfg, ctx.reporter)  # a reused output's counts are read back from its manifest
    return summary.reused, {"urls kept": summary.counts.get("kept", 0)}


def _site_url_list(ctx: RunContext, port: int) -> Path:
    path = ctx.path("site") / f"urls-{port}.txt"
    if not path.is_file():
        paths = (ctx.path("site") / "urls.txt").read_text(encoding="utf-8").split()
        atomic_write_text(path, "".join(f"http://127.0.0.1:{port}{p}\n" for p in paths))
    return path


def stage_crawl(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.data.crawl import crawl

    wired = {"inputs": [str(ctx.path("urls"))], "out": str(ctx.path("crawl"))}
    cfg = ctx.config("crawl", wired)
    if "site" in ctx.recipe.get("run", {}).get("stages", []):
        port = ctx.config("site").port
        with site.serve(ctx.path("site"), port):
            summary = crawl(cfg, ctx.reporter)
    else:
        summary = crawl(cfg, ctx.reporter)
    shown = {k: v for k, v in summary.counts.items() if isinstance(v, int) and k != "skipped"}
    return summary.reused, shown


def stage_extract(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.data.extract import extract

    wired = {"inputs": [str(ctx.path("crawl"))], "out": str(ctx.path("extract")), "workers": ctx.workers}
    cfg = ctx.config("extract", wired)
    summary = extract(cfg, ctx.reporter, ctx.config("executor"))
    return summary.reused, {"documents": summary.counts.get("documents", 0)}


def stage_clean(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.data.clean import clean

    cfg = ctx.config("clean")
    summary = clean([ctx.path("extract")], ctx.path("clean"), cfg, ctx.reporter, workers=ctx.workers,
                    executor=ctx.config("executor"))  # fmt: skip
    stats = summary.stats
    return summary.reused, {"documents in": stats.get("documents_in", 0), "documents out": stats.get("documents_out", 0)}


def stage_tokenizer(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.tokenizer.train import train_tokenizer

    wired = {"inputs": [str(ctx.path("clean"))], "out": str(ctx.path("tokenizer"))}
    cfg = ctx.config("tokenizer", wired)
    summary = train_tokenizer(cfg, ctx.reporter)
    return summary.reused, {"vocab size": summary.vocab_size, "merges": summary.merges}


def stage_pack(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.pack.pack import pack

    wired = {"inputs": [str(ctx.path("clean"))], "out": str(ctx.path("pack")),
             "tokenizer": str(ctx.path("tokenizer")), "workers": ctx.workers}  # fmt: skip
    summary = pack(ctx.config("pack", wired), ctx.reporter, ctx.config("executor"))
    return summary.reused, {"train tokens": summary.tokens.get("train", 0), "val tokens": summary.tokens.get("val", 0)}


def stage_train(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.train.trainer import train

    cfg = ctx.config("train", {"data": str(ctx.path("pack")), "out": str(ctx.path("train"))})
    summary = train(cfg, ctx.reporter)
    val_loss = None if summary.best_val_loss is None else round(summary.best_val_loss, 4)
    return summary.reused, {"step": summary.step, "val loss": val_loss, "tokens/s": round(summary.tokens_per_s)}


def stage_generate(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.model.generate import SamplingConfig, generate_text
    from gptkit.model.store import load_model

    cfg = ctx.config("generate")
    out = ctx.path("generate") / "sample.txt"
    model, tok = load_model(ctx.path("train"))
    sampling = SamplingConfig(max_tokens=cfg.max_tokens, temperature=cfg.temperature, top_k=cfg.top_k,
                              top_p=cfg.top_p, seed=cfg.seed)  # fmt: skip
    text = cfg.prompt + "".join(generate_text(model, tok, cfg.prompt, sampling))
    atomic_write_text(out, text)
    return False, {"characters": len(text)}


def stage_eval(ctx: RunContext) -> tuple[bool, dict]:
    from gptkit.eval.runner import evaluate

    wired = {"model": str(ctx.path("train")), "out": str(ctx.path("eval")), "tasks": ["lambada"]}
    result = evaluate(ctx.config("eval", wired), ctx.reporter)
    metrics = result.results.get("results", {})
    first = next(iter(metrics.values()), {})
    scores = {k.split(",")[0]: round(v, 4) for k, v in first.items() if isinstance(v, float) and "stderr" not in k}
    return result.reused, scores


#: Each stage returns whether it reused a finished output, and the figures the report shows.
STAGES: dict[str, Callable[[RunContext], tuple[bool, dict]]] = {
    "site": stage_site,
    "urls": stage_urls,
    "crawl": stage_crawl,
    "extract": stage_extract,
    "clean": stage_clean,
    "tokenizer": stage_tokenizer,
    "pack": stage_pack,
    "train": stage_train,
    "generate": stage_generate,
    "eval": stage_eval,
}


def _fill_report(report: Report, run_dir: Path, recipe_text: str, overrides: list[str]) -> None:
    """Overview, funnel, loss curve, sample, eval table, recipe and versions from what the stages wrote."""
    report.overview = read_overview(run_dir, report.stages)
    report.funnel = read_funnel(run_dir)
    report.loss_curve = read_loss_curve(run_dir / "train" / "metrics.jsonl")
    sample = run_dir / "generate" / "sample.txt"
    report.sample = sample.read_text(encoding="utf-8") if sample.is_file() else None
    results = run_dir / "eval" / "results.json"
    if results.is_file():
        from gptkit.eval.results import table_rows

        for row in table_rows(json.loads(results.read_text(encoding="utf-8"))):
            unit = " %" if row["percent"] else ""
            refs = "; ".join(f"{r['paper']} {r['model']}: {r['value']:g}{unit}" for r in row["references"])
            report.eval_rows.append({**row, "reference": refs})
    report.recipe = recipe_text + "".join(f"\n# --set {item}" for item in overrides)
    report.versions = read_versions(run_dir)
