"""``gptkit scale fit``: a scaling law fitted to a sweep's final validation losses → fit.json + fit.png.

The power form L(C) = a·C^b + c is fitted to the compute frontier: the runs of a tokens-per-parameter
sweep, or the best run of each FLOP budget of an IsoFLOP sweep, less any run that a run of less
compute beats (the others are off the frontier by construction). The Chinchilla form L(N, D) uses
every run. fit.json holds the parameters, their bootstrap intervals, the bootstrap laws and residual
noise that ``predict`` and ``check`` turn into prediction intervals, the points, and what a
compute-optimal shape needs (vocabulary, head size, width per layer).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.errors import InputError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.manifest import MANIFEST, Manifest, file_record
from gptkit.scale.laws import LAWS, Form, Points, fit_law
from gptkit.scale.plot import plot_fit
from gptkit.scale.predict import FIT_FILE
from gptkit.scale.runs import RunPoint, read_sweep

FIT_PLOT = "fit.png"


@dataclass
class FitSummary:
    out: Path
    fit: dict[str, Any]
    plot: Path


def fit_sweep(sweep_dir: str | Path, out: str | Path, form: Form = "power", bootstrap: int = 200,
              level: float = 0.95, seed: int = 0, extend: float = 100.0) -> FitSummary:  # fmt: skip
    """Fit ``form`` to the finished runs of ``sweep_dir``; write OUT/fit.json, OUT/fit.png, OUT/manifest.json.

    ``extend``: the plot runs this many times beyond the largest fitted compute.
    """
    started = time.perf_counter()
    runs = read_sweep(sweep_dir)
    if len({(r.vocab_size, r.block_size) for r in runs}) > 1:
        raise InputError("the runs differ in vocabulary or sequence length: fit runs of one tokenizer and "
                         "one block size", sweep_dir)  # fmt: skip
    used = frontier(runs) if form == "power" else runs
    law_cls = LAWS[form]
    if len(used) < law_cls.min_points:
        raise InputError(f"{len(used)} finished run(s) on the {'compute frontier' if form == 'power' else 'grid'}: "
                         f"the {form} form needs at least {law_cls.min_points}", sweep_dir)  # fmt: skip
    pts = Points(*(np.array([getattr(r, k) for r in used], dtype=float) for k in ("flops", "params", "tokens", "loss")))
    result = fit_law(form, pts, bootstrap=bootstrap, seed=seed)
    fit = {
        "form": form, "params": result.params, "level": level,
        "intervals": _intervals(result.boot_params, law_cls.names, level),
        "bootstrap": result.boot_params, "noise": result.noise.tolist(),
        "points": _points_json(runs, used, result.residuals),
        "model": _model_facts(used), "sweep": str(Path(sweep_dir).resolve()),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / FIT_FILE, fit)
    plot = plot_fit(fit, out / FIT_PLOT, extend)
    Manifest(
        stage="scale-fit", config={"form": form, "bootstrap": bootstrap, "level": level, "seed": seed},
        inputs=[file_record(Path(r.path) / MANIFEST) for r in runs],
        outputs=[file_record(out / FIT_FILE, out), file_record(plot, out)],
        counts={"runs": len(runs), "fitted": len(used)}, timings={"seconds": time.perf_counter() - started},
    ).write(out)  # fmt: skip
    return FitSummary(out, fit, plot)


def frontier(runs: list[RunPoint]) -> list[RunPoint]:
    """The compute frontier: the best run of each budget group (runs without a group stand alone), then
    only those no cheaper run beats (a WSD sweep's short branches of small shapes against long ones)."""
    best: dict[str, RunPoint] = {}
    for r in runs:
        key = r.budget if r.budget and r.budget.startswith("C") else r.name
        if key not in best or r.loss < best[key].loss:
            best[key] = r
    front, lowest = [], float("inf")
    for r in sorted(best.values(), key=lambda r: (r.flops, r.loss)):
        if r.loss < lowest:
            front.append(r)
            lowest = r.loss
    return front


def _intervals(boot: list[dict[str, float]], names: tuple[str, ...], level: float) -> dict[str, list[float]]:
    if not boot:
        return {}
    tail = (1 - level) / 2 * 100
    return {k: [float(v) for v in np.percentile([b[k] for b in boot], [tail, 100 - tail])] for k in names}


def _points_json(runs: list[RunPoint], used: list[RunPoint], residuals: np.ndarray) -> list[dict[str, Any]]:
    residual = {r.name: float(x) for r, x in zip(used, residuals, strict=True)}
    return [{**r.to_json(), "used": r.name in residual, "residual": residual.get(r.name)} for r in runs]


def _model_facts(used: list[RunPoint]) -> dict[str, Any]:
    """What predictions of new shapes need: the sweep's vocabulary, sequence length and proportions."""
    largest = max(used, key=lambda r: r.flops)
    return {
        "vocab_size": largest.vocab_size, "block_size": largest.block_size,
        "head_dim": largest.n_embd // largest.n_head, "width_per_layer": largest.n_embd / largest.n_layer,
        "tokens_per_param": statistics.median(r.tokens / r.params for r in used),
    }  # fmt: skip
