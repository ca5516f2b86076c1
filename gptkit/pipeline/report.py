"""The run report: ``report.md`` with PNG plots and a self-contained ``report.html``.

Built from what the stages wrote (their summaries, ``metrics.jsonl``, eval results), so it can be
regenerated at any time from a run directory.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptkit.io.atomic import atomic_path, atomic_write_text


@dataclass
class StageRecord:
    name: str
    status: str  # "ran" | "skipped"
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)
    #: user + system CPU seconds of the process and its finished workers: the figure that does not
    #: grow when other jobs share the cores (None: recorded by a gptkit that did not measure it)
    cpu_seconds: float | None = None


@dataclass
class FunnelStep:
    label: str
    documents: int
    note: str = ""  # why the count changed: the drop reasons, or where documents were added


@dataclass
class Report:
    title: str
    stages: list[StageRecord] = field(default_factory=list)
    funnel: list[FunnelStep] = field(default_factory=list)
    loss_curve: list[tuple[int, float, float | None]] = field(default_factory=list)  # (step, train, val)
    sample: str | None = None
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # task, metric, value, stderr, reference
    run_dir: Path | None = None
    overview: list[tuple[str, str]] = field(default_factory=list)  # (what, value): time, speed, eval size…
    recipe: str | None = None  # the recipe as run, with the --set overrides
    versions: dict[str, str] = field(default_factory=dict)  # gptkit and the libraries that made the outputs


def read_loss_curve(metrics_jsonl: Path) -> list[tuple[int, float, float | None]]:
    """(step, train loss, val loss or None) from a training run's metrics.jsonl."""
    points: dict[int, list] = {}
    if not metrics_jsonl.is_file():
        return []
    for line in metrics_jsonl.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        step = rec.get("step")
        if step is None:
            continue
        p = points.setdefault(int(step), [None, None])
        if rec.get("loss") is not None:
            p[0] = float(rec["loss"])
        if rec.get("val_loss") is not None:
            p[1] = float(rec["val_loss"])
    return [(s, p[0], p[1]) for s, p in sorted(points.items()) if p[0] is not None]


def _manifest(run_dir: Path, stage: str) -> dict[str, Any]:
    try:
        return json.loads((run_dir / stage / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _reasons(counts: dict[str, int], top: int = 4) -> str:
    """``reason n, reason n, …``: the most frequent first."""
    ranked = sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {n:,}" for k, n in ranked[:top]) + (", …" if len(ranked) > top else "")


def read_funnel(run_dir: Path) -> list[FunnelStep]:
    """Documents after each step from URLs to the cleaned corpus, each with why its count changed."""
    steps = []
    urls = _manifest(run_dir, "urls").get("counts", {})
    if "kept" in urls:
        dropped = urls.get("records", 0) - urls["kept"]
        records = f"{urls.get('records', 0):,} records"
        steps.append(FunnelStep("URLs kept", urls["kept"], f"{records}, {dropped:,} dropped" if dropped else records))
    crawl = _manifest(run_dir, "crawl")
    if "fetched" in crawl.get("counts", {}):
        fetched = crawl["counts"]["fetched"]
        steps.append(FunnelStep("pages fetched", fetched, _reasons(crawl.get("reasons", {}))))
    extract = _manifest(run_dir, "extract")
    if "documents" in extract.get("counts", {}):
        note = _extract_note(extract, run_dir, steps)
        steps.append(FunnelStep("documents extracted", extract["counts"]["documents"], note))
    try:
        stats = json.loads((run_dir / "clean" / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return steps
    for name, step in stats.get("steps", {}).items():
        steps.append(FunnelStep(f"after {name}", int(step["docs_out"]), _reasons(step.get("dropped", {}))))
    return steps


def _extract_note(extract: dict[str, Any], run_dir: Path, before: list[FunnelStep]) -> str:
    """Where extraction adds documents (inputs besides the crawl) or loses pages."""
    documents = extract["counts"]["documents"]
    fetched = before[-1].documents if before else documents
    crawl_dir = (run_dir / "crawl").resolve()
    others = [Path(i["path"]).name for i in extract.get("inputs", [])
              if not Path(i["path"]).resolve().is_relative_to(crawl_dir)]  # fmt: skip
    if documents > fetched:
        sources = ", ".join(others) or "other inputs"
        return f"+{documents - fetched:,}: the pages of {sources}, read besides the crawl"
    if documents < fetched:
        return f"{fetched - documents:,} pages without main text"
    return ""


def read_overview(run_dir: Path, stages: list[StageRecord]) -> list[tuple[str, str]]:
    """The run's key figures: total time, training speed, tokenizer compression, what eval covered."""
    total = _duration(sum(s.seconds for s in stages)) + f" over {len(stages)} stages"
    if all(s.cpu_seconds is not None for s in stages):
        total += f", {_duration(sum(s.cpu_seconds for s in stages))} CPU (user + system)"
    rows = [("total time", total)]
    train = _manifest(run_dir, "train")
    if train.get("summary"):
        t = train["summary"]
        mfu = f", MFU {100 * t['mfu']:.1f}%" if t.get("mfu") is not None else ""
        params = train.get("counts", {}).get("parameters")
        speed = f"{t['tokens']:,} tokens in {_duration(t['seconds'])}: {t['tokens_per_s']:,.0f} tokens/s{mfu}"
        rows.append(("training", speed + (f", {params:,} parameters" if params else "")))
    rows += _tokenizer_row(run_dir)
    results = run_dir / "eval" / "results.json"
    if results.is_file():
        n_samples = json.loads(results.read_text(encoding="utf-8")).get("n-samples", {})
        for task, n in n_samples.items():
            rows.append((f"eval {task}", f"{n['effective']:,} of {n['original']:,} documents"
                         + (" (eval.limit)" if n["effective"] < n["original"] else "")))  # fmt: skip
    return rows


def _tokenizer_row(run_dir: Path) -> list[tuple[str, str]]:
    """Bytes per token on held-out documents, else over the packed corpus (the tokenizer's own text)."""
    tok = _manifest(run_dir, "tokenizer").get("summary", {})
    if not tok:
        return []
    vocab = f"vocabulary {tok['vocab_size']:,}"
    if tok.get("bytes_per_token"):
        held_out = f"{tok['bytes_per_token']:.2f} bytes/token on {tok['held_out_documents']:,} held-out documents"
        return [("tokenizer", f"{vocab}, {held_out}")]
    pack = _manifest(run_dir, "pack").get("summary", {})
    if not pack or sum(pack["documents"].values()) != tok["documents"]:
        return [("tokenizer", vocab)]
    tokens = sum(pack["tokens"].values()) - tok["documents"]  # one <|endoftext|> per document
    return [("tokenizer", f"{vocab}, {tok['text_bytes'] / tokens:.2f} bytes/token over its own training text")]


def read_versions(run_dir: Path) -> dict[str, str]:
    """gptkit's and the libraries' versions, as the last stage that ran recorded them."""
    for stage in ("eval", "train", "pack", "tokenizer", "clean", "extract"):
        manifest = _manifest(run_dir, stage)
        if manifest.get("versions"):
            return {"gptkit": manifest.get("gptkit_version", "?"), **manifest["versions"]}
    return {}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _plot_funnel(funnel: list[FunnelStep], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s.label for s in funnel][::-1]
    values = [s.documents for s in funnel][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(funnel) + 1.2))
    bars = ax.barh(labels, values, color="#4C72B0")
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=3)
    ax.set_xlabel("documents")
    ax.set_title("Data funnel")
    ax.margins(x=0.15)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _plot_loss(curve: list[tuple[int, float, float | None]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s for s, _, _ in curve], [t for _, t, _ in curve], label="train")
    val = [(s, v) for s, _, v in curve if v is not None]
    if val:
        ax.plot([s for s, _ in val], [v for _, v in val], "o-", label="val")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def write_report(report: Report, out_dir: Path) -> Path:
    """Write report.md, report.html and their PNGs into ``out_dir``; return the HTML path."""
    images: dict[str, Path] = {}
    if report.funnel:
        images["Data funnel"] = out_dir / "funnel.png"
        _plot_funnel(report.funnel, images["Data funnel"])
    if report.loss_curve:
        images["Loss curve"] = out_dir / "loss.png"
        _plot_loss(report.loss_curve, images["Loss curve"])
    atomic_write_text(out_dir / "report.md", _markdown(report, images))
    html_path = out_dir / "report.html"
    atomic_write_text(html_path, _html(report, images))
    return html_path


def _stage_rows(report: Report) -> list[list[str]]:
    return [
        [s.name, s.status, f"{s.seconds:.1f}", "" if s.cpu_seconds is None else f"{s.cpu_seconds:.1f}",
         ", ".join(f"{k}: {_fmt(v)}" for k, v in s.summary.items())]
        for s in report.stages
    ]


def _eval_rows(report: Report) -> list[list[str]]:
    """Accuracy-like metrics in %, as the papers' numbers beside them (``reference``) are."""
    rows = []
    for r in report.eval_rows:
        unit = " %" if r.get("percent") else ""
        stderr = _fmt(r["stderr"]) + unit if r.get("stderr") is not None else ""
        value = _fmt(r["value"]) + unit
        rows.append([r["task"], str(r.get("shots", 0)), r["metric"], value, stderr, r.get("reference", "")])
    return rows


def _funnel_rows(report: Report) -> list[list[str]]:
    return [[s.label, f"{s.documents:,}", s.note] for s in report.funnel]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


OVERVIEW_HEADER = ["run", "figures"]
STAGE_HEADER = ["stage", "status", "seconds", "CPU seconds", "summary"]
FUNNEL_HEADER = ["step", "documents", "why the count changed"]
VERSIONS_HEADER = ["library", "version"]
EVAL_HEADER = ["task", "shots", "metric", "value", "± stderr", "published reference"]


def _markdown(report: Report, images: dict[str, Path]) -> str:
    parts = [f"# {report.title}", "", _md_table(OVERVIEW_HEADER, [list(r) for r in report.overview]), ""]
    parts += ["## Stages", "", _md_table(STAGE_HEADER, _stage_rows(report)), ""]
    for name, path in images.items():
        parts += [f"## {name}", "", f"![{name}]({path.name})", ""]
        if name == "Data funnel":
            parts += [_md_table(FUNNEL_HEADER, _funnel_rows(report)), ""]
    if report.sample is not None:
        parts += ["## Generated sample", "", "```", report.sample, "```", ""]
    if report.eval_rows:
        parts += ["## Evaluation", "", _md_table(EVAL_HEADER, _eval_rows(report)), ""]
    if report.recipe is not None:
        parts += ["## Recipe", "", "```toml", report.recipe, "```", ""]
    if report.versions:
        parts += ["## Versions", "", _md_table(VERSIONS_HEADER, [list(v) for v in report.versions.items()]), ""]
    return "\n".join(parts)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(report: Report, images: dict[str, Path]) -> str:
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(report.title)}</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}th{background:#f3f3f3}pre{background:#f6f6f6;padding:1em;"
        "white-space:pre-wrap}img{max-width:100%}",
        "</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        _html_table(OVERVIEW_HEADER, [list(r) for r in report.overview]),
        "<h2>Stages</h2>",
        _html_table(STAGE_HEADER, _stage_rows(report)),
    ]
    for name, path in images.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
        if name == "Data funnel":
            parts.append(_html_table(FUNNEL_HEADER, _funnel_rows(report)))
    if report.sample is not None:
        parts.append(f"<h2>Generated sample</h2><pre>{html.escape(report.sample)}</pre>")
    if report.eval_rows:
        parts += ["<h2>Evaluation</h2>", _html_table(EVAL_HEADER, _eval_rows(report))]
    if report.recipe is not None:
        parts.append(f"<h2>Recipe</h2><pre>{html.escape(report.recipe)}</pre>")
    if report.versions:
        parts += ["<h2>Versions</h2>", _html_table(VERSIONS_HEADER, [list(v) for v in report.versions.items()])]
    parts.append("</body></html>\n")
    return "\n".join(parts)
