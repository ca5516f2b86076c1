"""``gptkit scale sweep``: train every run of a grid of shapes × budgets, skipping finished ones.

Each run is an ordinary ``gptkit train`` run in ``OUT/runs/<name>/`` through the public
``train(TrainConfig)`` entry point, so an interrupted sweep resumes inside the run it was in
(from that run's latest checkpoint) and a rerun skips the runs whose manifest says they finished.
``OUT/manifest.json`` lists every run's scaling point once the whole grid is done.

In WSD mode each run is a cooldown branch: it forks (``train.fork_from``) the checkpoint of its
shape's constant-lr run in ``OUT/stable/<shape>/`` at the step where its own decay starts, so it
counts the stable prefix's tokens and FLOPs as its own, and the stable run is trained once, up to
the last fork point of its shape, when the first branch needs it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from gptkit.config import to_dict
from gptkit.errors import ConfigError, UsageError
from gptkit.io.manifest import MANIFEST, Manifest, file_record, read_manifest
from gptkit.model.flops import count_params, flops_per_token
from gptkit.model.gpt import GPTConfig, preset
from gptkit.pack.loader import TokenLoader
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.scale.config import DEFAULT_TOKENS_PER_PARAM, ScaleConfig, ShapeSpec
from gptkit.scale.runs import RUNS_DIR, RunPoint, read_run
from gptkit.train.checkpoint import CHECKPOINTS, checkpoint_name
from gptkit.train.config import TrainConfig
from gptkit.train.schedule import wsd_decay_start
from gptkit.train.trainer import train

STABLE_DIR = "stable"  # WSD mode: OUT/stable/<shape>/ are the constant-lr runs the branches fork from


@dataclass
class PlannedRun:
    name: str
    budget: str  # "tpp20" (tokens per parameter) or "C1.00e+15" (a FLOP budget)
    config: TrainConfig
    model: GPTConfig
    params: int
    tokens: int
    flops: float
    stable: TrainConfig | None = None  # WSD mode: the constant-lr run this branch forks from


@dataclass
class SweepSummary:
    out: Path
    points: list[RunPoint]
    trained: int
    reused: int
    left_out: list[str]  # runs of the grid too short to train, with the reason
    seconds: float


def sweep(cfg: ScaleConfig, reporter: Reporter = NULL_REPORTER) -> SweepSummary:
    """Train (or resume, or skip) every run of the grid, smallest compute first."""
    started = time.perf_counter()
    runs, left_out = plan_sweep(cfg)
    for reason in left_out:
        reporter.warn(reason)
    points, trained = [], 0
    with reporter.task("sweep", total=len(runs), unit="runs") as progress:
        for i, run in enumerate(runs, 1):
            if not is_finished(run):
                _train_stable(run, reporter)
                reporter.log(f"run {i}/{len(runs)} {run.name}: {run.params:,} parameters × {run.tokens:,} tokens "
                             f"= {run.flops:.3g} FLOPs ({run.config.steps} steps)")  # fmt: skip
                train(run.config, reporter)
                trained += 1
            point = read_run(run.config.out)
            point.budget = run.budget
            points.append(point)
            progress.advance()
    summary = SweepSummary(Path(cfg.out), points, trained, len(runs) - trained, left_out,
                           time.perf_counter() - started)  # fmt: skip
    _write_manifest(cfg, summary)
    return summary


def plan_sweep(cfg: ScaleConfig) -> tuple[list[PlannedRun], list[str]]:
    """The grid's runs sorted by compute, and the reasons runs of the grid were left out."""
    data = cfg.data or cfg.train.data
    if data is None:
        raise ConfigError("scale.data is not set: give --data TOKEN_DIR or set data in the recipe's [scale] table")
    if not cfg.shapes:
        raise ConfigError("scale.shapes is empty: list the model shapes of the grid ([[scale.shapes]] tables)")
    if cfg.train.eval_interval == 0:
        raise ConfigError("scale.train.eval_interval must be > 0: the fit needs every run's final validation loss")
    vocab = int(TokenLoader(data, "train", block_size=1, batch_size=1).meta["vocab_size"])
    runs, left_out, names = [], [], set()
    for shape in cfg.shapes:
        model = shape_config(shape, cfg.train, vocab)
        kept = []
        for label, flops, per_param in _budgets(cfg).values():
            run = _plan_run(cfg, Path(data), shape, model, label, flops, per_param)
            if run.name in names:
                raise ConfigError(f"two runs of the grid are both named {run.name!r}: give the shapes distinct names")
            names.add(run.name)
            if run.config.steps < cfg.min_steps:
                left_out.append(f"{run.name} left out: {run.config.steps} steps < scale.min_steps={cfg.min_steps}")
            else:
                kept.append(run)
        if cfg.mode == "wsd" and kept:
            _fork_branches(cfg, shape.name or f"L{model.n_layer}-d{model.n_embd}", kept)
        runs += kept
    if not runs:
        raise ConfigError(f"no run of the grid reaches scale.min_steps={cfg.min_steps} steps: raise the budgets")
    return sorted(runs, key=lambda r: r.flops), left_out


def _budgets(cfg: ScaleConfig) -> dict[str, tuple[str, float | None, float | None]]:
    """Each run length of a shape by name: (label, FLOP budget, tokens per parameter); WSD mode adds
    the cooldown fractions of each budget (the same length reached twice is one run)."""
    fractions = cfg.cooldowns if cfg.mode == "wsd" else [1.0]
    if cfg.flops:
        budgets = [(f"C{c * f:.2e}", c * f, None) for c in cfg.flops for f in fractions]
    else:
        ratio = cfg.tokens_per_param or DEFAULT_TOKENS_PER_PARAM
        budgets = [(f"tpp{ratio * f:g}", None, ratio * f) for f in fractions]
    return {label: (label, flops, per_param) for label, flops, per_param in budgets}


def _fork_branches(cfg: ScaleConfig, shape_name: str, runs: list[PlannedRun]) -> None:
    """Make ``runs`` (one shape) WSD cooldown branches of one constant-lr run that saves every fork point.

    All share the warmup of the shortest branch, so each follows the stable run's lr up to its fork.
    """
    warmup = round(cfg.warmup_frac * min(r.config.steps for r in runs))
    decay = dataclasses.replace(cfg.train.schedule, kind="wsd", warmup_steps=warmup)
    stable_out = Path(cfg.out) / STABLE_DIR / shape_name
    forks = {r.name: wsd_decay_start(r.config.steps, decay) for r in runs}
    if min(forks.values()) < 1:
        raise ConfigError(f"scale.train.schedule.decay_frac={decay.decay_frac} leaves no stable phase to fork from")
    stable = dataclasses.replace(
        runs[0].config, out=stable_out, steps=max(forks.values()), schedule=dataclasses.replace(decay, kind="constant"),
        checkpoint=dataclasses.replace(cfg.train.checkpoint, at_steps=sorted(set(forks.values()))),
    )  # fmt: skip
    for r in runs:
        fork_from = stable_out / CHECKPOINTS / checkpoint_name(forks[r.name])
        r.config = dataclasses.replace(r.config, schedule=decay, fork_from=fork_from)
        r.stable = stable


def _train_stable(run: PlannedRun, reporter: Reporter) -> None:
    """WSD mode: train (or resume) the constant-lr run a branch forks from, unless its fork point exists."""
    if run.stable is None or run.config.fork_from.is_dir():
        return
    reporter.log(f"stable run {run.stable.out.name}: constant lr for {run.stable.steps} steps, "
                 f"checkpoints at {', '.join(map(str, run.stable.checkpoint.at_steps))}")  # fmt: skip
    train(run.stable, reporter)


def shape_config(shape: ShapeSpec, train_cfg: TrainConfig, vocab_size: int) -> GPTConfig:
    """The model a run of ``shape`` trains: its preset, the sweep's model settings, the shape's fields."""
    overrides = {f.name: getattr(train_cfg.model, f.name) for f in dataclasses.fields(train_cfg.model)}
    overrides.update(n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd)
    overrides.pop("preset")
    return preset(shape.preset, vocab_size=vocab_size, **{k: v for k, v in overrides.items() if v is not None})


def _plan_run(cfg: ScaleConfig, data: Path, shape: ShapeSpec, model: GPTConfig, label: str,
              flops: float | None, per_param: float | None) -> PlannedRun:  # fmt: skip
    t = cfg.train
    block = t.block_size or model.block_size
    tokens_per_step = t.batch_tokens or t.micro_batch * block
    per_token = flops_per_token(model, block)
    params = count_params(model)
    wanted = per_param * params if per_param is not None else flops / per_token
    steps = max(round(wanted / tokens_per_step), 1)
    name = f"{shape.name or f'L{model.n_layer}-d{model.n_embd}'}_{label}"
    section = dataclasses.replace(t.model, preset=shape.preset, n_layer=model.n_layer, n_head=model.n_head,
                                  n_embd=model.n_embd)  # fmt: skip
    config = dataclasses.replace(
        t, data=data, out=Path(cfg.out) / RUNS_DIR / name, steps=steps, stop_after=None, model=section,
        optim=dataclasses.replace(t.optim, lr=shape.lr or t.optim.lr),
        schedule=dataclasses.replace(t.schedule, warmup_steps=round(cfg.warmup_frac * steps)),
    )  # fmt: skip
    tokens = steps * tokens_per_step
    return PlannedRun(name, label, config, model, params, tokens, float(per_token * tokens))


#: Settings that do not change what a run computes: a finished run is reused whatever they were.
RUN_INDEPENDENT = {"out", "data", "threads", "device", "resume", "stop_after", "log_interval"}


def is_finished(run: PlannedRun) -> bool:
    """True when the run's directory holds this very run, finished; a different finished run there is an error."""
    out = Path(run.config.out)
    if not (out / MANIFEST).is_file():
        return False
    recorded = read_manifest(out).get("config", {})
    wanted = to_dict(run.config)
    differing = sorted(k for k in wanted.keys() - RUN_INDEPENDENT if recorded.get(k) != wanted[k])
    if differing:
        raise UsageError(f"{out} holds a finished run with other settings ({', '.join(differing)}) than this "
                         f"grid's {run.name!r}: use another --out, or delete that run")  # fmt: skip
    return True


def _write_manifest(cfg: ScaleConfig, summary: SweepSummary) -> None:
    data = Path(cfg.data or cfg.train.data)
    Manifest(
        stage="scale-sweep",
        config=to_dict(cfg),
        inputs=[file_record(data / MANIFEST)] if (data / MANIFEST).is_file() else [],
        outputs=[file_record(Path(p.path) / MANIFEST, summary.out) for p in summary.points],
        counts={"runs": len(summary.points), "trained": summary.trained, "reused": summary.reused,
                "left_out": len(summary.left_out)},  # fmt: skip
        timings={"seconds": summary.seconds},
        extra={"runs": [p.to_json() for p in summary.points], "left_out": summary.left_out},
    ).write(summary.out)
