"""The funnel chart (``funnel.png``): documents left after each step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gptkit.io.atomic import atomic_path


def write_funnel(stats: dict[str, Any], path: str | Path) -> None:
    """Horizontal bars, one per step, of documents (and MB) that remain; matplotlib Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = stats["steps"]
    labels = ["input"] + list(steps)
    docs = [stats["documents_in"]] + [s["docs_out"] for s in steps.values()]
    mb = [stats["bytes_in"] / 1e6] + [s["bytes_out"] / 1e6 for s in steps.values()]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.2))
    y = range(len(labels))[::-1]
    ax.barh(list(y), docs, color="#4c72b0")
    top = max(docs) or 1
    for yi, d, m in zip(y, docs, mb, strict=True):
        ax.text(d + top * 0.01, yi, f"{d:,} docs  {m:,.1f} MB", va="center", fontsize=8)
    ax.set_yticks(list(y), labels)
    ax.set_xlim(0, top * 1.45)
    ax.set_xlabel("documents remaining")
    ax.set_title("gptkit data clean: funnel")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
