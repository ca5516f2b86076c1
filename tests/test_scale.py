"""`gptkit scale`: a sweep of nano models through the real CLI, FLOP counts, bad input."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_gptkit
from train_data import make_token_dir

from gptkit.errors import UsageError
from gptkit.scale.config import ScaleConfig, ShapeSpec
from gptkit.scale.runs import read_run
from gptkit.scale.sweep import plan_sweep, sweep
from gptkit.train.checkpoint import list_checkpoints
from gptkit.train.config import (
    CheckpointSection,
    ModelSection,
    OptimSection,
    SampleSection,
    ScheduleSection,
    TrainConfig,
)
from gptkit.train.metrics import read_jsonl
from gptkit.train.schedule import wsd_decay_start

SHAPES = [(1, 8), (1, 16), (2, 16), (2, 24), (2, 32)]  # (n_layer, n_embd), one head each
RECIPE = """
[scale]
tokens_per_param = 1.5
min_steps = 5
shapes = [{shapes}]

[scale.train]
block_size = 32
micro_batch = 4
eval_interval = 100000
eval_batches = 4
log_interval = 20
threads = 1
device = "cpu"
samples.prompts = []
model.dropout = 0.0
optim.lr = 1e-2
checkpoint.interval = 0
checkpoint.keep_best = false
"""


def write_recipe(path: Path, shapes) -> Path:
    tables = ", ".join(f"{{n_layer = {layer}, n_head = 1, n_embd = {width}}}" for layer, width in shapes)
    path.write_text(RECIPE.format(shapes=tables))
    return path


def one_shape_config(tokens: Path, out: Path, width: int = 16) -> ScaleConfig:
    """The sweep of the recipe above reduced to one 1-layer shape, as a library config."""
    train = TrainConfig(block_size=32, micro_batch=4, eval_interval=100000, eval_batches=4, threads=1, device="cpu",
                        model=ModelSection(preset="nano", dropout=0.0), optim=OptimSection(lr=1e-2),
                        checkpoint=CheckpointSection(interval=0, keep_best=False), samples=SampleSection(prompts=[]))  # fmt: skip
    return ScaleConfig(data=tokens, out=out, tokens_per_param=1.5, min_steps=5, train=train,
                       shapes=[ShapeSpec(n_layer=1, n_head=1, n_embd=width)])  # fmt: skip


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """A one-run sweep trained through the library (a second or two)."""
    root = tmp_path_factory.mktemp("scale-one")
    tokens = make_token_dir(root / "tokens", train_docs=400)
    summary = sweep(one_shape_config(tokens, root / "sweep"))
    return {"root": root, "tokens": tokens, "summary": summary}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished five-run sweep, its fit, and a bigger run trained after the fit."""
    root = tmp_path_factory.mktemp("scale")
    tokens = make_token_dir(root / "tokens", train_docs=400)
    recipe = write_recipe(root / "sweep.toml", SHAPES)
    sweep = run_gptkit("scale", "sweep", "-r", recipe, "-d", tokens, "-o", root / "sweep")
    assert sweep.returncode == 0, sweep.stderr
    fit = run_gptkit("scale", "fit", root / "sweep", "-o", root / "fit", "--bootstrap", "30")
    assert fit.returncode == 0, fit.stderr
    big = run_gptkit("scale", "sweep", "-r", write_recipe(root / "big.toml", [(2, 48)]), "-d", tokens,
                     "-o", root / "big")  # fmt: skip
    assert big.returncode == 0, big.stderr
    return {"root": root, "tokens": tokens, "recipe": recipe, "sweep": sweep, "fit": fit}


@pytest.mark.slow  # three sweeps and a fit through the CLI: ~1 min of CPU
def test_sweep_trains_every_shape_and_records_its_point(swept):
    root = swept["root"]
    manifest = json.loads((root / "sweep" / "manifest.json").read_text())
    assert manifest["stage"] == "scale-sweep"
    runs = manifest["runs"]
    assert [(r["n_layer"], r["n_embd"]) for r in runs] == SHAPES  # sorted by compute, smallest first
    for r in runs:
        assert (root / "sweep" / "runs" / r["name"] / "manifest.json").is_file()
        assert r["tokens"] >= 1.5 * r["params"] - 128  # tokens per parameter, to a step of 128 tokens
        assert r["loss"] > 0 and r["budget"] == "tpp1.5"
    assert runs[-1]["loss"] < runs[0]["loss"]  # the largest model learned more than the smallest
    assert "5 runs (5 trained, 0 already done" in swept["sweep"].stdout


@pytest.mark.slow
def test_rerun_skips_finished_runs(swept):
    root = swept["root"]
    again = run_gptkit("scale", "sweep", "-r", swept["recipe"], "-d", swept["tokens"], "-o", root / "sweep")
    assert again.returncode == 0, again.stderr
    assert "5 runs (0 trained, 5 already done" in again.stdout


@pytest.mark.slow
def test_fit_writes_law_intervals_and_plot(swept):
    fit = json.loads((swept["root"] / "fit" / "fit.json").read_text())
    assert fit["form"] == "power" and set(fit["params"]) == {"a", "b", "c"}
    assert fit["params"]["b"] < 0
    assert len(fit["bootstrap"]) == 30
    for name, (low, high) in fit["intervals"].items():
        assert low <= high, name
    assert all(p["used"] for p in fit["points"]) and len(fit["points"]) == len(SHAPES)
    png = swept["root"] / "fit" / "fit.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fitted 5 of 5 runs" in swept["fit"].stdout


@pytest.mark.slow
def test_predict_budget_and_model(swept):
    fit_dir = swept["root"] / "fit"
    fit = json.loads((fit_dir / "fit.json").read_text())
    proc = run_gptkit("scale", "predict", fit_dir, "--flops", "1e11", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    p = fit["params"]
    pred = result["prediction"]
    assert pred["loss"] == pytest.approx(p["a"] * pred["flops"] ** p["b"] + p["c"])
    assert pred["low"] <= pred["loss"] <= pred["high"]
    shape = result["optimal_shape"]
    assert shape["flops"] == pytest.approx(1e11, rel=1e-3)  # the tokens spend the budget on that shape
    ratio = fit["model"]["tokens_per_param"]
    assert shape["tokens"] / shape["params"] == pytest.approx(ratio, rel=0.6)
    text = run_gptkit("scale", "predict", fit_dir, "--model", "3x32", "--tokens", "50000")
    assert text.returncode == 0, text.stderr
    assert "3x32 × 50,000 tokens" in text.stdout and "compute-optimal" in text.stdout


@pytest.mark.slow
def test_check_compares_a_later_run_with_the_stored_prediction(swept):
    root = swept["root"]
    (run,) = (root / "big" / "runs").iterdir()
    proc = run_gptkit("scale", "check", root / "fit", run)
    assert proc.returncode == 0, proc.stderr
    check = json.loads((root / "fit" / "checks" / run.name / "check.json").read_text())
    point = read_run(run)
    fit = json.loads((root / "fit" / "fit.json").read_text())
    p = fit["params"]
    assert check["loss"] == point.loss
    assert check["predicted"] == pytest.approx(p["a"] * point.flops ** p["b"] + p["c"])
    assert check["relative_error"] == pytest.approx((check["predicted"] - point.loss) / point.loss)
    assert check["in_interval"] == (check["low"] <= point.loss <= check["high"])
    assert check["extrapolation"] > 1 and check["predicted_before_run"] is True
    assert (root / "fit" / "checks" / run.name / "check.png").is_file()


def test_flops_of_a_planned_and_a_finished_run_match_a_hand_count(one_run):
    """1 layer × 16 wide, vocabulary 96 padded to 128, biases, 32-token sequences."""
    C = 16
    per_layer = 12 * C * C + 9 * C + 2 * 2 * C  # weights, linear biases, two LayerNorms
    n = 128 * C + per_layer + 2 * C  # tied embedding/output layer, one block, final LayerNorm
    per_token = 6 * n + 12 * 1 * 1 * C * 32  # 6N + 12·L·H·Q·T
    (planned,), _ = plan_sweep(one_shape_config(one_run["tokens"], one_run["root"] / "sweep"))
    assert planned.params == n
    assert planned.tokens == planned.config.steps * 4 * 32 == round(1.5 * n / 128) * 128
    assert planned.flops == per_token * planned.tokens
    (finished,) = one_run["summary"].points
    assert (finished.params, finished.tokens, finished.flops) == (n, planned.tokens, planned.flops)
    assert finished.budget == "tpp1.5" and finished.loss > 0


def test_too_short_runs_are_left_out_and_counted(one_run):
    cfg = one_shape_config(one_run["tokens"], one_run["root"] / "other")
    cfg.shapes.append(ShapeSpec(n_layer=1, n_head=1, n_embd=4, name="toy"))
    cfg.min_steps = 20
    runs, left_out = plan_sweep(cfg)
    assert [r.name for r in runs] == ["L1-d16_tpp1.5"]
    assert len(left_out) == 1 and left_out[0].startswith("toy_tpp1.5 left out:")


def test_bad_inputs_are_one_line_errors(one_run, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_gptkit("scale", "fit", tmp_path / "empty", "-o", tmp_path / "f"), "no training runs")
    assert_one_line_error(run_gptkit("scale", "fit", one_run["root"] / "sweep", "-o", tmp_path / "f"),
                          "1 finished run(s)", "needs at least 4")  # fmt: skip
    partial = tmp_path / "partial"
    shutil.copytree(one_run["root"] / "sweep" / "runs", partial)
    (partial / "L1-d16_tpp1.5" / "manifest.json").unlink()  # as if killed before its last step
    assert_one_line_error(run_gptkit("scale", "fit", partial, "-o", tmp_path / "f"), "L1-d16_tpp1.5", "unfinished")
    assert_one_line_error(run_gptkit("scale", "predict", tmp_path / "empty", "--flops", "1e9"), "fit.json")
    assert_one_line_error(run_gptkit("scale", "sweep", "-d", one_run["tokens"], "-o", tmp_path / "s"), "scale.shapes")


@pytest.mark.slow
def test_check_refuses_a_fitted_run_and_predict_needs_a_question(swept):
    root = swept["root"]
    fitted = root / "sweep" / "runs" / "L2-d32_tpp1.5"
    assert_one_line_error(run_gptkit("scale", "check", root / "fit", fitted), "one of the fit's own runs")
    assert_one_line_error(run_gptkit("scale", "predict", root / "fit"), "give --flops")


def test_a_finished_run_is_reused_only_with_the_same_settings(one_run):
    cfg = one_shape_config(one_run["tokens"], one_run["root"] / "sweep")
    cfg.train.threads = 2  # does not change what the run computes
    again = sweep(cfg)
    assert (again.trained, again.reused) == (0, 1)
    cfg.train.optim.lr = 3e-3
    with pytest.raises(UsageError, match=r"other settings \(optim\)"):
        sweep(cfg)


def test_wsd_sweep_forks_cooldown_branches_from_one_constant_run_per_shape(tmp_path):
    tokens = make_token_dir(tmp_path / "tokens", train_docs=400)
    recipe = write_recipe(tmp_path / "wsd.toml", [(1, 16), (2, 16)])
    args = ["scale", "sweep", "-r", recipe, "-d", tokens, "-o", tmp_path / "sweep", "--mode", "wsd",
            "--set", "scale.tokens_per_param=2", "--set", "scale.cooldowns=[0.5, 1.0]",
            "--set", "scale.train.schedule.decay_shape=1-sqrt", "--set", "scale.train.log_interval=1"]  # fmt: skip
    first = run_gptkit(*args)
    assert first.returncode == 0, first.stderr
    assert "4 runs (4 trained, 0 already done" in first.stdout
    manifest = json.loads((tmp_path / "sweep" / "manifest.json").read_text())
    assert {r["budget"] for r in manifest["runs"]} == {"tpp1", "tpp2"}
    for r in manifest["runs"]:
        config = json.loads((Path(r["path"]) / "manifest.json").read_text())["config"]
        steps, schedule = config["steps"], config["schedule"]
        fork = wsd_decay_start(steps, ScheduleSection(**schedule))
        shape = f"L{r['n_layer']}-d{r['n_embd']}"
        assert config["fork_from"] == str(tmp_path / "sweep" / "stable" / shape / "checkpoints" / f"step_{fork:08d}")
        assert r["tokens"] == steps * 4 * 32  # the stable prefix counts as the branch's own
        lrs = {m["step"]: m["lr"] for m in read_jsonl(Path(r["path"]) / "metrics.jsonl") if "lr" in m}
        assert min(lrs) == fork + 1  # the branch trained only its cooldown
        assert lrs[steps] == pytest.approx(0.1 * 1e-2)  # decayed to min_lr_ratio · lr
        stable = read_jsonl(tmp_path / "sweep" / "stable" / shape / "metrics.jsonl")
        assert {m["lr"] for m in stable if "lr" in m and m["step"] > schedule["warmup_steps"]} == {1e-2}
        assert f"step_{fork:08d}" in list_checkpoints(tmp_path / "sweep" / "stable" / shape)
    again = run_gptkit(*args)
    assert again.returncode == 0, again.stderr
    assert "4 runs (0 trained, 4 already done" in again.stdout and "stable run" not in again.stderr

