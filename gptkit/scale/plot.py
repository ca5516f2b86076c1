"""The log-log plots of ``gptkit scale``: a fit (points, law, interval band) and a check (GPT-4 style).

Drawn with matplotlib's object API on an Agg canvas (no pyplot: no global backend state).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gptkit.io.atomic import atomic_path
from gptkit.scale.laws import LAWS, predict_interval
from gptkit.scale.predict import optimal_params


def law_curve(fit: dict[str, Any], flops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, low, high) along ``flops``; the Chinchilla form along its compute-optimal frontier."""
    law, noise = LAWS[fit["form"]], np.asarray(fit["noise"])
    if fit["form"] == "power":
        return predict_interval(law, fit["params"], fit["bootstrap"], noise, fit["level"], flops=flops)
    n = optimal_params(fit, flops)
    return predict_interval(law, fit["params"], fit["bootstrap"], noise, fit["level"],
                            params_n=n, tokens=flops / (6 * n))  # fmt: skip


def plot_fit(fit: dict[str, Any], path: Path, extend: float = 100.0) -> Path:
    """Runs as points (fitted ones filled), the law and its band, up to ``extend``× the largest run."""
    fig, ax = _figure()
    used = [p for p in fit["points"] if p["used"]]
    other = [p for p in fit["points"] if not p["used"]]
    c_max = max(p["flops"] for p in used) * extend
    _draw_law(ax, fit, min(p["flops"] for p in fit["points"]) / 2, c_max)
    ax.scatter([p["flops"] for p in used], [p["loss"] for p in used], color="black", zorder=3, label="fitted runs")
    if other:
        ax.scatter([p["flops"] for p in other], [p["loss"] for p in other], facecolors="none", edgecolors="gray",
                   zorder=3, label="other runs")  # fmt: skip
    ax.set_title(_law_text(fit))
    return _save(fig, ax, path)


def plot_check(fit: dict[str, Any], check: dict[str, Any], path: Path) -> Path:
    """The fitted runs, the law extended to the checked run, its prediction and its actual loss."""
    fig, ax = _figure()
    used = [p for p in fit["points"] if p["used"]]
    _draw_law(ax, fit, min(p["flops"] for p in used) / 2, check["flops"] * 2)
    ax.scatter([p["flops"] for p in used], [p["loss"] for p in used], color="black", zorder=3, label="fitted runs")
    ax.errorbar([check["flops"]], [check["predicted"]],
                yerr=[[check["predicted"] - check["low"]], [check["high"] - check["predicted"]]],
                fmt="o", color="tab:blue", capsize=4, zorder=4, label="prediction")  # fmt: skip
    ax.scatter([check["flops"]], [check["loss"]], marker="*", s=160, color="tab:green", zorder=5,
               label=f"{check['run']} (actual)")  # fmt: skip
    ax.set_title(f"predicted {check['predicted']:.4f}, actual {check['loss']:.4f} "
                 f"({100 * check['relative_error']:+.2f}%)")  # fmt: skip
    return _save(fig, ax, path)


def _draw_law(ax, fit: dict[str, Any], c_min: float, c_max: float) -> None:
    grid = np.geomspace(c_min, c_max, 200)
    center, low, high = law_curve(fit, grid)
    ax.fill_between(grid, low, high, color="tab:blue", alpha=0.2,
                    label=f"{100 * fit['level']:.0f}% prediction interval")  # fmt: skip
    ax.plot(grid, center, color="tab:blue", label=f"{fit['form']} law")


def _law_text(fit: dict[str, Any]) -> str:
    p = fit["params"]
    if fit["form"] == "power":
        return f"L(C) = {p['a']:.3g}·C^{p['b']:.3f} + {p['c']:.3f}"
    return f"L(N,D) = {p['E']:.3f} + {p['A']:.3g}/N^{p['alpha']:.3f} + {p['B']:.3g}/D^{p['beta']:.3f}"


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _save(fig, ax, path: Path) -> Path:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
