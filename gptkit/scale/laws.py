"""Scaling laws and their robust fit: L(C) = a·C^b + c and L(N, D) = E + A/N^α + B/D^β.

Both are fitted the way Chinchilla's approach 3 fits L(N, D) (Hoffmann et al. 2022, app. D.2):
the predicted log loss is a log-sum-exp of the law's terms, the objective is the Huber loss
(δ = 1e-3) of log-loss residuals, minimised with L-BFGS from a grid of starts. The grid is
scored first and L-BFGS runs from the best start of each combination of exponents, which reaches
the basins of the whole grid at a fraction of the cost. Uncertainty comes from a residual bootstrap (the
sweep's shapes are chosen, not sampled, so the design stays fixed and the noise is resampled):
Epoch AI's refit of Chinchilla (Besiroglu et al. 2024) showed intervals from a single fit too narrow.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import minimize

Form = Literal["power", "chinchilla"]
HUBER_DELTA = 1e-3


@dataclass
class Points:
    """What a law is fitted to: compute, parameters, tokens and final validation loss of each run."""

    flops: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray


class PowerLaw:
    """L(C) = a·C^b + c (GPT-4 technical report), with C in training FLOPs.

    Internally θ = (log a', b, log c) with a' the coefficient at ``c_ref`` (the geometric mean of
    the fitted compute), so the grid and the optimiser work on numbers of order one.
    """

    form: Form = "power"
    names = ("a", "b", "c")
    exponents = (1,)  # columns of θ that are exponents
    min_points = 4

    def __init__(self, c_ref: float = 1.0):
        self.c_ref = c_ref

    @classmethod
    def for_points(cls, pts: Points) -> PowerLaw:
        return cls(float(np.exp(np.mean(np.log(pts.flops)))))

    def grid(self) -> np.ndarray:
        log_a = np.linspace(-3.0, 2.0, 6)
        b = -np.array([0.02, 0.05, 0.1, 0.2, 0.4, 0.8])
        log_c = np.linspace(-1.0, 2.5, 8)
        return np.array(list(itertools.product(log_a, b, log_c)))

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(None, None), (-3.0, 0.0), (None, None)]

    def log_loss_and_grad(self, theta: np.ndarray, pts: Points) -> tuple[np.ndarray, np.ndarray]:
        log_a, b, log_c = theta
        x = np.log(pts.flops / self.c_ref)
        lse, p = log_sum_exp(np.stack([log_a + b * x, np.full_like(x, log_c)], axis=1))
        return lse, np.stack([p[:, 0], p[:, 0] * x, p[:, 1]], axis=1)

    def to_params(self, theta: np.ndarray) -> dict[str, float]:
        log_a, b, log_c = (float(t) for t in theta)
        return {"a": float(np.exp(log_a - b * np.log(self.c_ref))), "b": b, "c": float(np.exp(log_c))}

    @staticmethod
    def predict(params: dict[str, float], flops, params_n=None, tokens=None) -> np.ndarray:
        return params["a"] * np.asarray(flops, dtype=float) ** params["b"] + params["c"]


class ChinchillaLaw:
    """L(N, D) = E + A/N^α + B/D^β with θ = (log A, α, log B, β, log E), Chinchilla's parametrisation."""

    form: Form = "chinchilla"
    names = ("E", "A", "alpha", "B", "beta")
    exponents = (1, 3)
    min_points = 6

    @classmethod
    def for_points(cls, pts: Points) -> ChinchillaLaw:
        return cls()

    def grid(self) -> np.ndarray:
        """Chinchilla's grid: α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25}."""
        ab = np.arange(0.0, 26.0, 5.0)
        exps = np.arange(0.0, 2.01, 0.5)
        e = np.arange(-1.0, 1.01, 0.5)
        return np.array(list(itertools.product(ab, exps, ab, exps, e)))

    def bounds(self) -> list[tuple[float | None, float | None]]:
        return [(None, None), (0.0, 3.0), (None, None), (0.0, 3.0), (None, None)]

    def log_loss_and_grad(self, theta: np.ndarray, pts: Points) -> tuple[np.ndarray, np.ndarray]:
        log_a, alpha, log_b, beta, log_e = theta
        log_n, log_d = np.log(pts.params), np.log(pts.tokens)
        lse, p = log_sum_exp(np.stack([log_a - alpha * log_n, log_b - beta * log_d, np.full_like(log_n, log_e)], axis=1))
        return lse, np.stack([p[:, 0], -p[:, 0] * log_n, p[:, 1], -p[:, 1] * log_d, p[:, 2]], axis=1)

    def to_params(self, theta: np.ndarray) -> dict[str, float]:
        log_a, alpha, log_b, beta, log_e = (float(t) for t in theta)
        return {"E": float(np.exp(log_e)), "A": float(np.exp(log_a)), "alpha": alpha,
                "B": float(np.exp(log_b)), "beta": beta}  # fmt: skip

    @staticmethod
    def predict(params: dict[str, float], flops=None, params_n=None, tokens=None) -> np.ndarray:
        n, d = np.asarray(params_n, dtype=float), np.asarray(tokens, dtype=float)
        return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


Law = PowerLaw | ChinchillaLaw
LAWS: dict[str, type[PowerLaw] | type[ChinchillaLaw]] = {"power": PowerLaw, "chinchilla": ChinchillaLaw}


def log_sum_exp(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise log Σ exp(terms) and the softmax weights (its gradient), without overflow."""
    top = terms.max(axis=1, keepdims=True)
    e = np.exp(terms - top)
    total = e.sum(axis=1, keepdims=True)
    return top[:, 0] + np.log(total[:, 0]), e / total


def huber(r: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def objective(theta: np.ndarray, law: Law, pts: Points, delta: float = HUBER_DELTA) -> tuple[float, np.ndarray]:
    """Sum of Huber losses of log-loss residuals, and its gradient in θ, both in units of δ².

    The unit changes nothing about the minimum, but keeps values of order one, where L-BFGS's
    default stopping tolerances are meaningful (in plain units they stop it within a few steps).
    """
    log_pred, grad = law.log_loss_and_grad(theta, pts)
    r = log_pred - np.log(pts.loss)
    return float(huber(r, delta).sum()) / delta**2, (np.clip(r, -delta, delta) @ grad) / delta**2


def minimise(law: Law, pts: Points, starts: np.ndarray, delta: float = HUBER_DELTA, polish: bool = False) -> np.ndarray:
    """The best θ L-BFGS reaches from any of ``starts``.

    ``polish``: refine a start that is already near the optimum (a bootstrap replicate) with dense
    BFGS instead; scipy 1.17's L-BFGS-B spends ~3 ms of its own per evaluation, BFGS reaches the
    same minimum 40× faster on these 3-5 parameters (benchmarked in docs/scale.md).
    """
    best, best_value = starts[0], np.inf
    for start in starts:
        if polish:
            res = minimize(objective, start, args=(law, pts, delta), jac=True, method="BFGS")
        else:
            res = minimize(objective, start, args=(law, pts, delta), jac=True, method="L-BFGS-B", bounds=law.bounds())
        if np.isfinite(res.fun) and res.fun < best_value:
            best, best_value = res.x, res.fun
    return np.asarray(best, dtype=float)


def fit_theta(law: Law, pts: Points, delta: float = HUBER_DELTA) -> np.ndarray:
    """θ of the law from the best start of its grid for each combination of exponents.

    Scoring the grid first and keeping one start per exponent combination covers every basin
    the full grid reaches (the starts that only scale the terms differently converge together).
    """
    grid = law.grid()
    scores = np.array([objective(theta, law, pts, delta)[0] for theta in grid])
    best: dict[tuple[float, ...], int] = {}
    for i in np.argsort(scores):
        best.setdefault(tuple(grid[i, list(law.exponents)]), int(i))
    return minimise(law, pts, grid[sorted(best.values())], delta)


@dataclass
class FitResult:
    law: Law
    theta: np.ndarray
    params: dict[str, float]
    residuals: np.ndarray  # log(predicted) − log(observed), per point
    boot_params: list[dict[str, float]]  # one parameter set per bootstrap replicate
    noise: np.ndarray  # log-loss residuals rescaled for the degrees of freedom, resampled into intervals


def fit_law(form: Form, pts: Points, bootstrap: int = 200, seed: int = 0) -> FitResult:
    """Fit ``form`` to ``pts``; ``bootstrap`` residual-bootstrap replicates give the intervals."""
    law = LAWS[form].for_points(pts)
    theta = fit_theta(law, pts)
    log_pred, _ = law.log_loss_and_grad(theta, pts)
    residuals = log_pred - np.log(pts.loss)
    n, k = len(pts.loss), len(law.names)
    noise = (residuals - residuals.mean()) * np.sqrt(n / max(n - k, 1))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(bootstrap):
        fake = Points(pts.flops, pts.params, pts.tokens, np.exp(log_pred + rng.choice(noise, size=n)))
        boot.append(law.to_params(minimise(law, fake, theta[None, :], polish=True)))
    return FitResult(law, theta, law.to_params(theta), residuals, boot, noise)


def predict_interval(
    law_cls, params: dict[str, float], boot: list[dict[str, float]], noise: np.ndarray, level: float = 0.95,
    flops=None, params_n=None, tokens=None, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction, low, high): the fitted law, and percentiles of bootstrap laws plus resampled noise.

    The interval is a prediction interval for one new run's loss: it holds the uncertainty of the
    law and the run-to-run scatter the fit left in its residuals.
    """
    shape = np.broadcast(*(np.asarray(v) for v in (flops, params_n, tokens) if v is not None)).shape
    center = np.broadcast_to(law_cls.predict(params, flops, params_n, tokens), shape)
    if not boot:
        return center, center, center
    rng = np.random.default_rng(seed)
    draws = np.stack([law_cls.predict(p, flops, params_n, tokens) * np.exp(rng.choice(noise)) for p in boot])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail], axis=0)
    return center, np.broadcast_to(low, shape), np.broadcast_to(high, shape)
