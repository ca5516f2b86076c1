"""``gptkit scale …``: sweep small runs, fit a scaling law, predict a bigger run's loss, check it."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, out

app = App(no_args_is_help=True,
          help="Scaling laws: sweep small runs, fit L(C), predict and check a bigger run.")


def register(root: typer.Typer) -> None:
    """Add ``scale`` to ``root``."""
    root.add_typer(app, name="scale")


FitArg = Annotated[Path, typer.Argument(help="A 'gptkit scale fit' output directory (or its fit.json).")]


class SweepMode(StrEnum):
    runs = "runs"
    wsd = "wsd"


class FormChoice(StrEnum):
    power = "power"
    chinchilla = "chinchilla"


@app.command()
def sweep(
    recipe: RecipeOpt = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Token directory from 'gptkit data pack'.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Sweep directory (runs/<name>/ per run).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads of every run.")] = None,
    mode: Annotated[SweepMode | None, typer.Option("--mode", help="runs: one run per grid point; wsd: cooldown "
                                                   "branches of one constant-lr run per shape.")] = None,  # fmt: skip
    overrides: SetOpt = None,
) -> None:
    """Train a grid of model shapes × token budgets; rerun the same command to resume or skip finished runs.

    The recipe's \\[scale] table lists the shapes (\\[\\[scale.shapes]]: preset, n_layer, n_head, n_embd,
    lr, name) and either tokens_per_param (default 20: one compute-optimal run per shape) or flops
    (FLOP budgets: every shape at each). \\[scale.train] is an ordinary \\[train] table for every run;
    the sweep sets each run's model, steps and warmup (scale.warmup_frac of its steps). FLOPs are
    counted as 'gptkit train' counts them (6N + attention per token). Writes OUT/runs/<name>/ and
    OUT/manifest.json (every run's parameters, tokens, FLOPs and final validation loss).

    --mode wsd (scale.mode): per shape one constant-lr run (OUT/stable/<shape>/) and every run of the
    grid a cooldown branch forked from its checkpoint, at scale.cooldowns fractions of each budget
    (default 0.25, 0.5, 1); a branch decays over its last scale.train.schedule.decay_frac (0.2) of
    steps, linear or 1-sqrt (schedule.decay_shape), and counts the stable prefix in its FLOPs.

    Examples:

      gptkit scale sweep -r recipes/scale/cpu-sweep.toml --data runs/w/tokens --out runs/w/scale

      gptkit scale sweep -r recipes/scale/cpu-sweep.toml --set scale.tokens_per_param=10 --set scale.train.threads=2

      gptkit scale sweep -r recipes/scale/cpu-sweep.toml --mode wsd --set scale.cooldowns=[0.5,1] -o runs/w/wsd
    """
    from gptkit.config import resolve
    from gptkit.scale.config import ScaleConfig
    from gptkit.scale.sweep import sweep as run_sweep

    options = {"data": data, "out": out_dir, "train.threads": threads, "mode": mode and mode.value}
    cfg = resolve(ScaleConfig, "scale", recipe=recipe, options=options, overrides=overrides or [])
    summary = run_sweep(cfg, RichReporter())
    for p in summary.points:
        out.print(f"{p.name:<28} N {p.params:>12,}  D {p.tokens:>13,}  C {p.flops:9.3e}  val loss {p.loss:.4f}")
    out.print(f"{len(summary.points)} runs ({summary.trained} trained, {summary.reused} already done, "
              f"{len(summary.left_out)} left out) → {summary.out}")  # fmt: skip


@app.command()
def fit(
    sweep_dir: Annotated[Path, typer.Argument(help="A 'gptkit scale sweep' directory, or a folder of training runs.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory for fit.json and fit.png.")],
    form: Annotated[FormChoice, typer.Option("--form", help="power: L(C) = aC^b + c; chinchilla: "
                                              "L(N,D) = E + A/N^α + B/D^β.")] = FormChoice.power,  # fmt: skip
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates for the intervals.")] = 200,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Interval coverage.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    extend: Annotated[float, typer.Option("--extend", min=1.0, help="Plot the law this many times beyond the largest run.")] = 100.0,
) -> None:
    """Fit a scaling law to a sweep's final validation losses (Huber on log loss, L-BFGS, bootstrap).

    The power form uses the compute frontier (the best run of each FLOP budget); the chinchilla
    form uses every run. Writes OUT/fit.json (parameters, intervals, bootstrap laws, points),
    OUT/fit.png (log-log: runs, law, prediction band) and OUT/manifest.json.

    Examples:

      gptkit scale fit runs/w/scale --out runs/w/fit

      gptkit scale fit runs/w/isoflop --form chinchilla --out runs/w/fit-chinchilla --bootstrap 500
    """
    from gptkit.scale.fit import fit_sweep

    summary = fit_sweep(sweep_dir, out_dir, form.value, bootstrap=bootstrap, level=level, seed=seed, extend=extend)
    f = summary.fit
    for name, value in f["params"].items():
        low, high = f["intervals"].get(name, [value, value])
        out.print(f"{name:<6} {value:12.5g}   {100 * level:.0f}% interval [{low:.5g}, {high:.5g}]")
    used = [p for p in f["points"] if p["used"]]
    rms = (sum(p["residual"] ** 2 for p in used) / len(used)) ** 0.5
    out.print(f"fitted {len(used)} of {len(f['points'])} runs, RMS log-loss residual {rms:.4f} → {summary.out}")


@app.command()
def predict(
    fit_path: FitArg,
    flops: Annotated[float | None, typer.Option("--flops", "-c", help="Training compute in FLOPs, e.g. 1e17.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="A preset, LAYERSxWIDTH (4x128) or "
                                              "n_layer=4,n_embd=128,n_head=4.")] = None,  # fmt: skip
    tokens: Annotated[int | None, typer.Option("--tokens", min=1, help="Training tokens of --model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Predict the final validation loss (with its interval) of a budget or of a model × tokens.

    --flops alone: the loss at that budget spent compute-optimally, and the shape that does it.
    --model with --tokens (or with --flops: the tokens that budget buys): that model's loss.

    Examples:

      gptkit scale predict runs/w/fit --flops 1e16

      gptkit scale predict runs/w/fit --model 6x384 --tokens 50000000
    """
    from gptkit.errors import UsageError
    from gptkit.model.flops import flops_per_token
    from gptkit.scale.predict import load_fit, optimal_shape, parse_shape, predict_flops, predict_model

    f = load_fit(fit_path)
    if model is None:
        if flops is None or tokens is not None:
            raise UsageError("give --flops, or --model with --tokens (or with --flops)")
        pred, shape = predict_flops(f, flops)
    else:
        config = parse_shape(model, f)
        if (flops is None) == (tokens is None):
            raise UsageError("--model needs exactly one of --tokens and --flops")
        tokens = tokens or max(int(flops / flops_per_token(config, f["model"]["block_size"])), 1)
        pred = predict_model(f, config, tokens)
        shape = optimal_shape(f, pred.flops)
    if as_json:
        out.print(json.dumps({"prediction": pred.to_json(), "optimal_shape": shape.to_json()}))
        return
    what = f"{model} × {pred.tokens:,} tokens" if model else "compute-optimal"
    out.print(f"loss {pred.loss:.4f}  {100 * pred.level:.0f}% interval [{pred.low:.4f}, {pred.high:.4f}]  "
              f"at {pred.flops:.3e} FLOPs ({what})")  # fmt: skip
    out.print(f"compute-optimal for {pred.flops:.3e} FLOPs: n_layer={shape.n_layer} n_head={shape.n_head} "
              f"n_embd={shape.n_embd} ({shape.params:,} parameters) × {shape.tokens:,} tokens")  # fmt: skip


@app.command()
def check(
    fit_path: FitArg,
    run: Annotated[Path, typer.Argument(help="A finished 'gptkit train' run directory the fit has not seen.")],
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory (default FIT/checks/RUN_NAME).")] = None,
) -> None:
    """Compare a finished run's final validation loss with the loss the fit predicted for it.

    Writes OUT/check.json (prediction, interval, actual loss, relative error, extrapolation factor,
    whether the fit predates the run) and OUT/check.png (the fitted runs, the law, the prediction
    and the actual loss, as GPT-4's report plots them).

    Example:

      gptkit scale check runs/w/fit runs/w/big-run
    """
    from gptkit.scale.check import check_run

    summary = check_run(fit_path, run, out_dir)
    c = summary.check
    inside = "inside" if c["in_interval"] else "OUTSIDE"
    out.print(f"{c['run']}: predicted {c['predicted']:.4f} [{c['low']:.4f}, {c['high']:.4f}], actual {c['loss']:.4f} "
              f"({100 * c['relative_error']:+.2f}%, {inside} the interval) at {c['extrapolation']:.1f}× the largest "
              f"fitted compute → {summary.out}")  # fmt: skip
