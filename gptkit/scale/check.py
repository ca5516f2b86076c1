"""``gptkit scale check``: a finished run's loss against the loss the fit predicted for it.

The prediction comes from fit.json alone (the law, its bootstrap laws and residual noise as they were
when the fit was made), so checking a run trained after the fit is the test GPT-4's report plots:
runs with less compute predicting a bigger one. The check says whether the fit was indeed made before
the run finished, and refuses a run the fit was made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gptkit.errors import InputError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.manifest import MANIFEST, Manifest, file_record
from gptkit.scale.plot import plot_check
from gptkit.scale.predict import FIT_FILE, load_fit, predict_at
from gptkit.scale.runs import read_run

CHECK_FILE = "check.json"
CHECK_PLOT = "check.png"


@dataclass
class CheckSummary:
    out: Path
    check: dict[str, Any]
    plot: Path


def check_run(fit_path: str | Path, run_dir: str | Path, out: str | Path | None = None) -> CheckSummary:
    """Compare ``run_dir``'s final validation loss with the fit's prediction; write OUT/check.json + check.png.

    ``out`` defaults to FIT/checks/<run name>.
    """
    fit_dir = Path(fit_path) if Path(fit_path).is_dir() else Path(fit_path).parent
    fit = load_fit(fit_path)
    point = read_run(run_dir)
    fitted = {Path(p["path"]).resolve() for p in fit["points"]}
    if Path(run_dir).resolve() in fitted:
        raise InputError("this run is one of the fit's own runs: check a run the fit has not seen", run_dir)
    m = fit["model"]
    if (point.vocab_size, point.block_size) != (m["vocab_size"], m["block_size"]):
        raise InputError(f"run has vocabulary {point.vocab_size} and sequence length {point.block_size}, the fit's "
                         f"runs {m['vocab_size']} and {m['block_size']}: the law does not apply", run_dir)  # fmt: skip
    pred = predict_at(fit, point.flops, point.params, point.tokens)
    largest = max(p["flops"] for p in fit["points"] if p["used"])
    check = {
        "run": point.name, "path": point.path, "flops": point.flops, "params": point.params, "tokens": point.tokens,
        "loss": point.loss, "predicted": pred.loss, "low": pred.low, "high": pred.high, "level": pred.level,
        "relative_error": (pred.loss - point.loss) / point.loss, "in_interval": pred.low <= point.loss <= pred.high,
        "extrapolation": point.flops / largest, "fit_created": fit["created"], "run_finished": point.finished,
        "predicted_before_run": _before(fit["created"], point.finished),
    }  # fmt: skip
    out = Path(out) if out is not None else fit_dir / "checks" / point.name
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / CHECK_FILE, check)
    plot = plot_check(fit, check, out / CHECK_PLOT)
    Manifest(
        stage="scale-check", config={},
        inputs=[file_record(fit_dir / FIT_FILE), file_record(Path(run_dir) / MANIFEST)],
        outputs=[file_record(out / CHECK_FILE, out), file_record(plot, out)],
        extra={"check": check},
    ).write(out)  # fmt: skip
    return CheckSummary(out, check, plot)


def _before(fit_created: str, run_finished: str) -> bool | None:
    """Whether the fit was written before the run finished (None when a time stamp is unreadable)."""
    try:
        fmt = "%Y-%m-%dT%H:%M:%S%z"
        return datetime.strptime(fit_created, fmt) <= datetime.strptime(run_finished, fmt)
    except ValueError:
        return None
