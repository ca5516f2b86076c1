"""``gptkit scale predict``: a fitted law's loss, with its interval, for a budget or a model × tokens,
and the compute-optimal model shape for a budget.

The compute-optimal size comes from the fit: with the Chinchilla form, N_opt = G·(C/6)^(β/(α+β)),
G = (αA/(βB))^(1/(α+β)) (Hoffmann et al. 2022, eq. 4); with the power form, which knows only C, from
the tokens per parameter the sweep trained at (C ≈ 6N·rN). A concrete shape is then the model of the
sweep's aspect ratio (width per layer, head size) whose parameter count is nearest.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gptkit.errors import InputError, UsageError
from gptkit.io.json_files import read_json
from gptkit.model.flops import count_params, flops_per_token
from gptkit.model.gpt import PRESETS, GPTConfig, preset
from gptkit.scale.laws import LAWS, predict_interval

FIT_FILE = "fit.json"


@dataclass
class Prediction:
    loss: float
    low: float
    high: float
    level: float
    flops: float
    params: int | None = None
    tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Shape:
    """A model shape and the tokens that spend a budget on it."""

    n_layer: int
    n_head: int
    n_embd: int
    params: int
    tokens: int
    flops: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_fit(path: str | Path) -> dict[str, Any]:
    """The fit written by ``gptkit scale fit`` (its directory or its fit.json)."""
    path = Path(path)
    file = path / FIT_FILE if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"no {FIT_FILE} here (make one with 'gptkit scale fit')", path)
    fit = read_json(file, "corrupt fit")
    if not isinstance(fit, dict) or fit.get("form") not in LAWS or not isinstance(fit.get("params"), dict):
        raise InputError("not a gptkit scale fit (no 'form' and 'params')", file)
    return fit


def predict_at(fit: dict[str, Any], flops: float, params: float | None = None,
               tokens: float | None = None) -> Prediction:  # fmt: skip
    """The loss the fit predicts for ``flops`` (and, for the Chinchilla form, ``params`` × ``tokens``)."""
    law = LAWS[fit["form"]]
    if fit["form"] == "chinchilla" and (params is None or tokens is None):
        raise UsageError("the chinchilla form predicts from parameters and tokens")
    center, low, high = predict_interval(law, fit["params"], fit["bootstrap"], np.asarray(fit["noise"]),
                                         fit["level"], flops=flops, params_n=params, tokens=tokens)  # fmt: skip
    return Prediction(float(center), float(low), float(high), fit["level"], float(flops),
                      None if params is None else int(params), None if tokens is None else int(tokens))  # fmt: skip


def predict_flops(fit: dict[str, Any], flops: float) -> tuple[Prediction, Shape]:
    """The loss at a budget spent compute-optimally, and the shape that spends it."""
    if flops <= 0:
        raise UsageError(f"--flops must be > 0, got {flops:g}")
    shape = optimal_shape(fit, flops)
    return predict_at(fit, shape.flops, shape.params, shape.tokens), shape


def predict_model(fit: dict[str, Any], model: GPTConfig, tokens: int) -> Prediction:
    """The loss of ``model`` trained on ``tokens`` tokens."""
    if tokens <= 0:
        raise UsageError(f"--tokens must be > 0, got {tokens}")
    block = fit["model"]["block_size"]
    return predict_at(fit, float(flops_per_token(model, block) * tokens), count_params(model), tokens)


def optimal_params(fit: dict[str, Any], flops):
    """Compute-optimal parameter count N for a budget of ``flops`` (a number or an array)."""
    p = fit["params"]
    if fit["form"] == "chinchilla":
        a, b = p["alpha"], p["beta"]
        g = (a * p["A"] / (b * p["B"])) ** (1 / (a + b))
        return g * (flops / 6) ** (b / (a + b))
    return np.sqrt(flops / (6 * fit["model"]["tokens_per_param"]))


def optimal_shape(fit: dict[str, Any], flops: float) -> Shape:
    """The shape of the sweep's aspect ratio nearest (in log) to the compute-optimal size, and its tokens."""
    target = float(optimal_params(fit, flops))
    m = fit["model"]
    best = None
    for n_layer in range(1, 129):
        heads = max(round(m["width_per_layer"] * n_layer / m["head_dim"]), 1)
        model = model_config(fit, n_layer, heads, heads * m["head_dim"])
        gap = abs(math.log(count_params(model) / target))
        if best is None or gap < best[0]:
            best = (gap, model)
    model = best[1]
    tokens = max(int(flops / flops_per_token(model, m["block_size"])), 1)
    return Shape(model.n_layer, model.n_head, model.n_embd, count_params(model), tokens,
                 float(flops_per_token(model, m["block_size"]) * tokens))  # fmt: skip


def model_config(fit: dict[str, Any], n_layer: int, n_head: int, n_embd: int) -> GPTConfig:
    m = fit["model"]
    return GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, vocab_size=m["vocab_size"],
                     block_size=m["block_size"])  # fmt: skip


def parse_shape(text: str, fit: dict[str, Any]) -> GPTConfig:
    """A preset name, ``LAYERSxWIDTH`` (heads of the sweep's head size) or ``n_layer=4,n_embd=128[,n_head=4]``."""
    m = fit["model"]
    if text in PRESETS:
        return preset(text, vocab_size=m["vocab_size"])
    fields: dict[str, int] = {}
    if match := re.fullmatch(r"(\d+)x(\d+)", text.strip()):
        fields = {"n_layer": int(match[1]), "n_embd": int(match[2])}
    else:
        for item in filter(None, text.split(",")):
            key, _, value = item.partition("=")
            if key.strip() not in ("n_layer", "n_embd", "n_head") or not value.strip().isdigit():
                raise UsageError(f"--model {text!r}: expected a preset ({', '.join(PRESETS)}), LAYERSxWIDTH "
                                 "or n_layer=L,n_embd=C[,n_head=H]")  # fmt: skip
            fields[key.strip()] = int(value)
    if "n_layer" not in fields or "n_embd" not in fields:
        raise UsageError(f"--model {text!r}: give at least n_layer and n_embd (e.g. 4x128)")
    n_head = fields.get("n_head") or max(fields["n_embd"] // m["head_dim"], 1)
    try:
        return model_config(fit, fields["n_layer"], n_head, fields["n_embd"])
    except ValueError as e:
        raise UsageError(f"--model {text!r}: {e}") from None
