"""Finished training runs read back as scaling points: parameters, tokens, FLOPs, final validation loss.

A run counts as finished when ``gptkit train`` wrote its ``manifest.json`` (it does so only after
the last step). FLOPs are counted the way ``gptkit train`` counts them for MFU:
``flops_per_token(model, block_size) × tokens`` (6N + attention, see ``gptkit.model.flops``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gptkit.errors import InputError
from gptkit.io.manifest import MANIFEST, read_manifest
from gptkit.model.flops import count_params, flops_per_token
from gptkit.model.gpt import GPTConfig

RUNS_DIR = "runs"  # a sweep's training runs live in SWEEP/runs/<name>/


@dataclass
class RunPoint:
    name: str
    path: str
    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int
    block_size: int  # training sequence length
    params: int  # N of 6N (non-embedding as gptkit.model.flops counts it: the tied output layer is in)
    tokens: int
    flops: float
    loss: float  # final validation loss
    finished: str  # when the run's manifest was written
    budget: str | None = None  # the sweep budget the run belongs to (IsoFLOP groups)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_run(run_dir: str | Path) -> RunPoint:
    """The scaling point of one finished ``gptkit train`` run; an unfinished one is an InputError."""
    run_dir = Path(run_dir)
    if not (run_dir / MANIFEST).is_file():
        if run_dir.is_dir() and any(run_dir.iterdir()):
            raise InputError("run is unfinished (no manifest.json yet): rerun 'gptkit scale sweep' to finish it",
                             run_dir)  # fmt: skip
        raise InputError("not a training run (no manifest.json)", run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("stage") != "train":
        raise InputError(f"not a training run (stage {manifest.get('stage')!r})", run_dir / MANIFEST)
    try:
        model = GPTConfig(**manifest["model"])
        loss = manifest["summary"]["final_val_loss"]
        tokens = int(manifest["counts"]["tokens"])
        block = manifest["config"].get("block_size") or model.block_size
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(f"training manifest lacks what a scaling point needs ({e!r})", run_dir / MANIFEST) from None
    if loss is None:
        raise InputError("run has no final validation loss (no val shards, or eval_interval = 0)", run_dir / MANIFEST)
    return RunPoint(
        name=run_dir.name, path=str(run_dir), n_layer=model.n_layer, n_head=model.n_head, n_embd=model.n_embd,
        vocab_size=model.vocab_size, block_size=int(block), params=count_params(model), tokens=tokens,
        flops=float(flops_per_token(model, int(block)) * tokens), loss=float(loss),
        finished=str(manifest.get("created", "")),
    )  # fmt: skip


def read_sweep(sweep_dir: str | Path) -> list[RunPoint]:
    """Every run of a sweep (``DIR/runs/*``, or ``DIR/*`` for a folder of runs), sorted by compute.

    Budget groups come from the sweep's manifest when there is one. Unfinished runs are errors:
    a fit on a partial sweep would silently drop its largest runs.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise InputError("sweep directory not found", sweep_dir)
    base = sweep_dir / RUNS_DIR if (sweep_dir / RUNS_DIR).is_dir() else sweep_dir
    run_dirs = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not run_dirs:
        raise InputError("no training runs here (run 'gptkit scale sweep' first)", base)
    budgets = _budgets(sweep_dir)
    points = [read_run(d) for d in run_dirs]
    for p in points:
        p.budget = budgets.get(p.name)
    return sorted(points, key=lambda p: p.flops)


def _budgets(sweep_dir: Path) -> dict[str, str]:
    if not (sweep_dir / MANIFEST).is_file():
        return {}
    runs = read_manifest(sweep_dir).get("runs", [])
    return {r["name"]: r["budget"] for r in runs if isinstance(r, dict) and r.get("budget")}
