"""The scaling-law fitter: known laws recovered from noisy points, gradients, intervals."""

import numpy as np
import pytest

from gptkit.scale.fit import frontier
from gptkit.scale.laws import ChinchillaLaw, Points, PowerLaw, fit_law, objective, predict_interval
from gptkit.scale.runs import RunPoint

EPOCH_REFIT = {"E": 1.82, "A": 482.0, "alpha": 0.348, "B": 2085.0, "beta": 0.366}  # Besiroglu et al. 2024


def power_points(a=310.0, b=-0.2, c=2.0, noise=0.003, n=8, seed=1) -> Points:
    rng = np.random.default_rng(seed)
    flops = np.geomspace(1e12, 1e15, n)
    loss = (a * flops**b + c) * np.exp(rng.normal(0, noise, n))
    return Points(flops, np.zeros(n), np.zeros(n), loss)


def test_power_law_recovers_known_parameters():
    result = fit_law("power", power_points(), bootstrap=100)
    assert result.params["b"] == pytest.approx(-0.2, abs=0.03)
    assert result.params["c"] == pytest.approx(2.0, abs=0.05)
    # a and b trade off; the law itself must be right, also 100x beyond the points
    far = PowerLaw.predict({"a": 310.0, "b": -0.2, "c": 2.0}, 1e17)
    assert PowerLaw.predict(result.params, 1e17) == pytest.approx(far, rel=0.01)
    center, low, high = predict_interval(PowerLaw, result.params, result.boot_params, result.noise, flops=1e17)
    assert low < far < high and low < center < high


def test_power_interval_widens_with_extrapolation():
    result = fit_law("power", power_points(noise=0.01), bootstrap=100)
    _, low, high = predict_interval(PowerLaw, result.params, result.boot_params, result.noise,
                                    flops=np.array([1e13, 1e17, 1e19]))  # fmt: skip
    width = high - low
    assert width[0] < width[1] < width[2]


@pytest.mark.slow  # 25 L-BFGS fits of 5 parameters: ~15 s of CPU
def test_chinchilla_law_recovers_epoch_refit():
    rng = np.random.default_rng(0)
    n = np.repeat(np.geomspace(1e7, 1e9, 5), 4)
    d = np.tile(np.geomspace(1e8, 1e11, 4), 5)
    loss = ChinchillaLaw.predict(EPOCH_REFIT, None, n, d) * np.exp(rng.normal(0, 0.002, n.size))
    result = fit_law("chinchilla", Points(6 * n * d, n, d, loss), bootstrap=10)
    assert result.params["E"] == pytest.approx(1.82, rel=0.05)
    assert result.params["alpha"] == pytest.approx(0.348, abs=0.05)
    assert result.params["beta"] == pytest.approx(0.366, abs=0.05)
    assert ChinchillaLaw.predict(result.params, None, 7e10, 1.4e12) == pytest.approx(
        ChinchillaLaw.predict(EPOCH_REFIT, None, 7e10, 1.4e12), rel=0.01)  # fmt: skip


@pytest.mark.parametrize("law, theta", [
    (PowerLaw(c_ref=1e13), np.array([0.3, -0.25, 0.6])),
    (ChinchillaLaw(), np.array([6.0, 0.35, 7.5, 0.37, 0.6])),
])  # fmt: skip
def test_objective_gradient_matches_finite_differences(law, theta):
    pts = power_points(noise=0.05)
    pts = Points(pts.flops, np.geomspace(1e6, 1e8, 8), np.geomspace(1e7, 1e10, 8), pts.loss)
    _, grad = objective(theta, law, pts)
    eps = 1e-6
    numeric = [(objective(theta + eps * e, law, pts)[0] - objective(theta - eps * e, law, pts)[0]) / (2 * eps)
               for e in np.eye(len(theta))]  # fmt: skip
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-9)


def test_huber_resists_an_outlier():
    pts = power_points(noise=0.002)
    bad = pts.loss.copy()
    bad[3] *= 1.3  # one broken run
    result = fit_law("power", Points(pts.flops, pts.params, pts.tokens, bad), bootstrap=0)
    assert PowerLaw.predict(result.params, 1e16) == pytest.approx(
        PowerLaw.predict({"a": 310.0, "b": -0.2, "c": 2.0}, 1e16), rel=0.01)  # fmt: skip


def test_power_fit_uses_the_compute_frontier():
    def point(name, flops, loss, budget):
        return RunPoint(name, name, 1, 1, 16, 128, 32, 1000, 1000, flops, loss, "", budget)

    runs = [
        point("a_C1", 1e9, 5.0, "C1e9"), point("b_C1", 1e9, 4.8, "C1e9"),  # IsoFLOP group: b is its best
        point("small_tpp20", 4e9, 4.5, "tpp20"),  # a small shape's long WSD branch ...
        point("big_tpp5", 3e9, 4.4, "tpp5"),  # ... beaten by a bigger shape's cheaper short branch
        point("big_tpp20", 1e10, 4.0, "tpp20"),
    ]
    assert [r.name for r in frontier(runs)] == ["b_C1", "big_tpp5", "big_tpp20"]
