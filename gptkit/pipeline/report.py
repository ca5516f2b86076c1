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


@dataclass
class Report:
    title: str
    stages: list[StageRecord] = field(default_factory=list)
    funnel: list[tuple[str, int]] = field(default_factory=list)  # (step, documents)
    loss_curve: list[tuple[int, float, float | None]] = field(default_factory=list)  # (step, train, val)
    sample: str | None = None
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # task, metric, value, stderr, reference
    run_dir: Path | None = None


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


def _plot_funnel(funnel: list[tuple[str, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s for s, _ in funnel][::-1]
    values = [n for _, n in funnel][::-1]
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
        [s.name, s.status, f"{s.seconds:.1f}", ", ".join(f"{k}: {_fmt(v)}" for k, v in s.summary.items())]
        for s in report.stages
    ]


def _eval_rows(report: Report) -> list[list[str]]:
    return [
        [r["task"], str(r.get("shots", 0)), r["metric"], _fmt(r["value"]),
         _fmt(r.get("stderr")) if r.get("stderr") is not None else "", r.get("reference", "")]
        for r in report.eval_rows
    ]  # fmt: skip


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


STAGE_HEADER = ["stage", "status", "seconds", "summary"]
EVAL_HEADER = ["task", "shots", "metric", "value", "± stderr", "published reference"]


def _markdown(report: Report, images: dict[str, Path]) -> str:
    parts = [f"# {report.title}", "", "## Stages", "", _md_table(STAGE_HEADER, _stage_rows(report)), ""]
    for name, path in images.items():
        parts += [f"## {name}", "", f"![{name}]({path.name})", ""]
    if report.sample is not None:
        parts += ["## Generated sample", "", "```", report.sample, "```", ""]
    if report.eval_rows:
        parts += ["## Evaluation", "", _md_table(EVAL_HEADER, _eval_rows(report)), ""]
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
        f"<h1>{html.escape(report.title)}</h1><h2>Stages</h2>",
        _html_table(STAGE_HEADER, _stage_rows(report)),
    ]
    for name, path in images.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>")
    if report.sample is not None:
        parts.append(f"<h2>Generated sample</h2><pre>{html.escape(report.sample)}</pre>")
    if report.eval_rows:
        parts += ["<h2>Evaluation</h2>", _html_table(EVAL_HEADER, _eval_rows(report))]
    parts.append("</body></html>\n")
    return "\n".join(parts)
