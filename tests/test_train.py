"""`gptkit train`: schedule, optimizer groups, checkpoints, a real training run, and bad input."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
from conftest import REPO, assert_one_line_error, run_gptkit, shared_path
from train_data import make_token_dir, tiny_config

from gptkit.config import dump_toml, resolve
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.model.gpt import GPT, preset
from gptkit.train import checkpoint as ckpt
from gptkit.train.config import CheckpointSection, OptimSection, ScheduleSection, TrainConfig
from gptkit.train.metrics import read_jsonl
from gptkit.train.optim import build_optimizer, param_groups
from gptkit.train.schedule import lr_at, wsd_decay_start
from gptkit.train.trainer import train


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return make_token_dir(tmp_path_factory.mktemp("data") / "tokens")


# --- schedule and optimizer --------------------------------------------------------------------


def test_cosine_schedule_warms_up_then_decays_to_min():
    cfg = ScheduleSection(kind="cosine", warmup_steps=10, min_lr_ratio=0.1)
    lrs = [lr_at(s, 1.0, 100, cfg) for s in range(100)]
    assert lrs[:10] == sorted(lrs[:10]) and lrs[0] == pytest.approx(1 / 11)
    assert lrs[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(0.1)
    assert lr_at(37, 1.0, 100, cfg) == lrs[37]  # a pure function of the step


def test_wsd_and_constant_schedules():
    wsd = ScheduleSection(kind="wsd", warmup_steps=10, min_lr_ratio=0.0, decay_frac=0.2)
    lrs = [lr_at(s, 2.0, 100, wsd) for s in range(100)]
    assert set(lrs[10:80]) == {2.0}  # stable phase
    assert lrs[80:] == sorted(lrs[80:], reverse=True) and lrs[-1] == pytest.approx(0.0)
    const = ScheduleSection(kind="constant", warmup_steps=0)
    assert {lr_at(s, 3e-4, 50, const) for s in range(50)} == {3e-4}


def test_wsd_follows_constant_until_its_decay_then_decays_linear_or_1_sqrt():
    const = ScheduleSection(kind="constant", warmup_steps=5)
    linear = ScheduleSection(kind="wsd", warmup_steps=5, min_lr_ratio=0.1, decay_frac=0.25)
    sqrt = dataclasses.replace(linear, decay_shape="1-sqrt")
    start = wsd_decay_start(40, linear)
    assert start == 30
    # a cooldown forked from a longer constant run at `start` sees the same lr up to there
    assert [lr_at(s, 1.0, 40, linear) for s in range(start)] == [lr_at(s, 1.0, 400, const) for s in range(start)]
    lin = [lr_at(s, 1.0, 40, linear) for s in range(start, 40)]
    root = [lr_at(s, 1.0, 40, sqrt) for s in range(start, 40)]
    assert lin == sorted(lin, reverse=True) and root == sorted(root, reverse=True)
    assert lin[-1] == pytest.approx(0.1) and root[-1] == pytest.approx(0.1)
    assert lin[0] == pytest.approx(1 - 0.9 * 0.1)  # linear: 1/10 of the way down after the first step
    assert root[0] == pytest.approx(1 - 0.9 * 0.1**0.5)  # 1-sqrt: fast at first
    assert all(r < lo for r, lo in zip(root[:-1], lin[:-1], strict=True))


def test_weight_decay_only_on_matrices_and_embeddings():
    model = GPT(preset("nano", vocab_size=100))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    # tied token embedding / output layer counted once; every parameter in exactly one group
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert build_optimizer(model, tiny_config(None, None).optim, "cpu").defaults["fused"] is True
    assert build_optimizer(model, tiny_config(None, None).optim, "mps").defaults["fused"] is None


# --- checkpoints -------------------------------------------------------------------------------


def _save(run, step, is_best=False, keep_last=2, write=lambda d: (d / "model.safetensors").write_bytes(b"w")):
    return ckpt.save_checkpoint(run, step, write, {"state": {}, "param_groups": []}, {"x": step}, keep_last, is_best)


def test_checkpoints_keep_last_k_and_best(tmp_path):
    _save(tmp_path, 1)
    _save(tmp_path, 2, is_best=True)
    for step in (3, 4, 5):
        _save(tmp_path, step)
    assert ckpt.list_checkpoints(tmp_path) == ["step_00000002", "step_00000004", "step_00000005"]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000005"
    assert ckpt.best_checkpoint(tmp_path).name == "step_00000002"
    assert ckpt.read_state(ckpt.latest_checkpoint(tmp_path)) == {"step": 5, "x": 5}


def test_checkpoint_write_is_atomic(tmp_path):
    _save(tmp_path, 1)

    def crash(d):
        (d / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError):
        _save(tmp_path, 2, write=crash)
    assert ckpt.list_checkpoints(tmp_path) == ["step_00000001"]  # no half-written checkpoint
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000001"
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")]
    (tmp_path / "checkpoints" / ".step_00000003.tmp-1-abc").mkdir()  # left by a SIGKILL
    assert ckpt.remove_stale(tmp_path) == 1


def test_rng_state_round_trips_through_json():
    state = json.loads(json.dumps(ckpt.rng_state()))
    a = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    ckpt.set_rng_state(state)
    b = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


# --- training ----------------------------------------------------------------------------------


def test_tiny_model_learns_and_writes_a_complete_run(tokens, tmp_path):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    summary = train(tiny_config(tokens, run, steps=30, eval_interval=10, checkpoint=CheckpointSection(interval=10),
                                optim=OptimSection(lr=1e-2)))  # fmt: skip
    records = read_jsonl(run / "metrics.jsonl")
    losses = [r["loss"] for r in records if "loss" in r]
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(losses) == 30 and len(vals) == 3
    assert losses[-1] < losses[0] - 1.0 and vals[-1] < vals[0]
    assert all(r["grad_norm"] > 0 and r["tokens_per_s"] > 0 and r["mfu"] > 0 for r in records if "loss" in r)
    assert summary.step == 30 and summary.final_val_loss == vals[-1] and summary.tokens == 30 * 4 * 32
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "[train" in (run / "config.toml").read_text()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stage"] == "train" and manifest["counts"]["steps"] == 30
    assert any(o["path"].endswith("model.safetensors") for o in manifest["outputs"])
    state = ckpt.read_state(ckpt.latest_checkpoint(run))
    assert state["tokenizer_hash"] == "xxh3_128:test-tokenizer" and state["config"]["steps"] == 30

    from gptkit.model.store import load_model

    model, _ = load_model(run)  # the run dir resolves to its latest checkpoint
    assert model.config.n_layer == 2 and model.config.vocab_size == 96


def test_tensorboard_scalars_match_metrics_jsonl(tokens, tmp_path):
    """With the tensorboard extra installed (dev installs it), RUN/tensorboard holds the same scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.set_num_threads(1)
    train(tiny_config(tokens, tmp_path / "run", steps=6, eval_interval=3))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    records = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    for key in ("loss", "val_loss", "lr"):
        logged = [(r["step"], r[key]) for r in records if key in r]
        assert [(e.step, e.value) for e in events.Scalars(key)] == [(s, pytest.approx(v, rel=1e-6)) for s, v in logged]


def test_grad_norm_is_logged_before_clipping(tokens, tmp_path):
    torch.set_num_threads(1)
    for name, clip in (("clip", 1e-3), ("noclip", 0.0)):
        train(tiny_config(tokens, tmp_path / name, steps=3, optim=OptimSection(lr=3e-3, grad_clip=clip)))
    norms = {n: [r["grad_norm"] for r in read_jsonl(tmp_path / n / "metrics.jsonl") if "loss" in r] for n in ("clip", "noclip")}
    assert norms["clip"][0] == norms["noclip"][0] > 1e-3  # same first gradient, reported unclipped
    assert norms["clip"][1] != norms["noclip"][1]  # clipping changed the first update


def test_init_from_a_run_continues_from_its_weights(tokens, tmp_path):
    torch.set_num_threads(1)
    train(tiny_config(tokens, tmp_path / "base", steps=20))
    fresh = train(tiny_config(tokens, tmp_path / "fresh", steps=1, eval_interval=0))
    tuned = train(tiny_config(tokens, tmp_path / "tuned", steps=1, eval_interval=0, init_from=tmp_path / "base"))
    assert tuned.final_loss < fresh.final_loss - 0.5


def test_cooldown_branch_forks_a_constant_run_with_its_optimizer_state(tokens, tmp_path):
    stable = tiny_config(tokens, tmp_path / "stable", steps=10, eval_interval=10,
                         schedule=ScheduleSection(kind="constant", warmup_steps=2),
                         checkpoint=CheckpointSection(interval=0, keep_last=1, at_steps=[4, 8]))  # fmt: skip
    train(stable)
    assert ckpt.list_checkpoints(stable.out) == ["step_00000004", "step_00000008", "step_00000010"]
    fork = stable.out / ckpt.CHECKPOINTS / "step_00000008"
    branch = tiny_config(tokens, tmp_path / "branch", steps=10, eval_interval=10, fork_from=fork,
                         schedule=ScheduleSection(kind="wsd", warmup_steps=2, decay_frac=0.2, decay_shape="1-sqrt"),
                         checkpoint=CheckpointSection(interval=0, keep_last=1))  # fmt: skip
    summary = train(branch)
    assert summary.resumed_from == 8 and summary.step == 10
    assert summary.tokens == 10 * 4 * 32  # the stable prefix counts
    adam = torch.load(summary.checkpoint / ckpt.OPTIMIZER, weights_only=True)["state"]
    assert {int(s["step"]) for s in adam.values()} == {10}  # Adam's moments carried on from the fork
    lrs = [r["lr"] for r in read_jsonl(branch.out / "metrics.jsonl") if "lr" in r]
    assert lrs == [lr_at(s, branch.optim.lr, 10, branch.schedule) for s in (8, 9)]
    assert ckpt.list_checkpoints(stable.out)[1] == "step_00000008"  # the fork point is the stable run's, untouched


def test_bf16_autocast_on_cpu_is_opt_in(tokens, tmp_path):
    torch.set_num_threads(1)
    summary = train(tiny_config(tokens, tmp_path / "bf16", steps=4, dtype="bf16"))
    assert summary.final_loss is not None and summary.final_loss == summary.final_loss  # finite, not NaN


@pytest.mark.slow
def test_trains_on_packed_shared_data_with_gpt2_tokenizer_and_samples(tmp_path):
    """The pipeline's own path: `gptkit data pack` real web text, then `gptkit train` on it."""
    docs = shared_path("corpora/web-text/dolma-ccnet-cc_en_head-0091.jsonl.gz")
    tokens = tmp_path / "tokens"
    proc = run_gptkit("data", "pack", docs, "--tokenizer", shared_path("tokenizers/gpt2"), "-o", tokens, "-w", "1",
                      "--val-docs", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "run"
    proc = run_gptkit("train", "--data", tokens, "--out", run, "--steps", "40", "--threads", "1",
                      "--set", "train.model.preset=nano", "--set", "train.block_size=32",
                      "--set", "train.micro_batch=4", "--set", "train.optim.lr=3e-3",
                      "--set", "train.eval_interval=20", "--set", "train.eval_batches=2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "done: step 40/40" in proc.stdout
    records = read_jsonl(run / "metrics.jsonl")
    losses = [r["loss"] for r in records if "loss" in r]
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert losses[-1] < losses[0] - 2.0 and vals[-1] < vals[0]  # from ~ln(50257) = 10.8 down
    samples = read_jsonl(run / "samples.jsonl")
    assert {s["step"] for s in samples} == {20, 40} and any(s["text"].strip() for s in samples)
    state = ckpt.read_state(ckpt.latest_checkpoint(run))
    assert state["tokenizer_hash"] == json.loads((tokens / "manifest.json").read_text())["tokenizer_hash"]
    assert (ckpt.latest_checkpoint(run) / "tokenizer" / "tokenizer.json").is_file()


# --- bad input: one-line errors ----------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tokens, tmp_path_factory):
    """A finished 4-step run and the recipe (resolved config) that made it."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("bad")
    cfg = tiny_config(tokens, root / "run", steps=4, eval_interval=2, checkpoint=CheckpointSection(interval=2))
    train(cfg)
    dump_toml({"train": cfg}, root / "recipe.toml")
    return cfg, root / "recipe.toml"


def test_unknown_recipe_key_is_one_line(tokens, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nstepz = 3\n")
    assert_one_line_error(run_gptkit("train", "-r", recipe, "--data", tokens), "train.stepz")
    with pytest.raises(ConfigError, match="train.optim.lrr"):
        resolve(TrainConfig, "train", overrides=["train.optim.lrr=1"])


def test_bad_batch_and_block_settings(tokens, tmp_path):
    out = tmp_path / "run"
    proc = run_gptkit("train", "--data", tokens, "--out", out, "--set", "train.model.preset=nano",
                      "--set", "train.block_size=128")  # fmt: skip
    assert_one_line_error(proc, "block_size=128", "context")
    with pytest.raises(ConfigError, match="batch_tokens=100 is not a multiple"):
        train(tiny_config(tokens, out, batch_tokens=100))
    with pytest.raises(ConfigError, match="train.data"):
        train(tiny_config(None, out))
    with pytest.raises(InputError, match="nope"):
        train(tiny_config(tmp_path / "nope", out))
    assert not out.exists()  # nothing written for a rejected config


def test_shards_from_another_tokenizer_are_refused(finished_run, tmp_path):
    cfg, recipe = finished_run
    other = make_token_dir(tmp_path / "other", tokenizer_hash="xxh3_128:another")
    proc = run_gptkit("train", "-r", recipe, "--data", other, "--steps", "6")
    assert_one_line_error(proc, "another tokenizer")


def test_checkpoint_of_another_architecture_is_refused(finished_run):
    cfg, _ = finished_run
    model = dataclasses.replace(cfg.model, n_layer=3)
    with pytest.raises(InputError, match=r"different architecture: n_layer 2 \(checkpoint\) vs 3 \(config\)"):
        train(dataclasses.replace(cfg, steps=6, model=model))


@pytest.mark.parametrize("victim", ["optimizer.pt", "model.safetensors", "state.json"])
def test_corrupt_checkpoint_is_refused(finished_run, tmp_path, victim):
    cfg, recipe = finished_run
    run = tmp_path / "run"
    shutil.copytree(cfg.out, run)
    path = ckpt.latest_checkpoint(run) / victim
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    if victim == "optimizer.pt":  # once through the CLI: one line, no traceback
        proc = run_gptkit("train", "-r", recipe, "--out", run, "--steps", "6")
        assert_one_line_error(proc, victim, "corrupt")
    else:
        with pytest.raises(InputError, match="corrupt") as e:
            train(dataclasses.replace(cfg, out=run, steps=6))
        assert victim in str(e.value)


def test_existing_run_without_resume_is_refused(finished_run):
    cfg, _ = finished_run
    with pytest.raises(UsageError, match="already holds checkpoints"):
        train(dataclasses.replace(cfg, resume=False))


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes" / "train").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_recipes_resolve(recipe):
    from gptkit.model.gpt import PRESETS

    cfg = resolve(TrainConfig, "train", recipe=recipe)
    assert cfg.model.preset in PRESETS
    if cfg.batch_tokens is not None:  # a whole number of micro-batches on 1 process
        assert cfg.batch_tokens % (cfg.micro_batch * (cfg.block_size or 1)) == 0


def test_checkpoint_state_with_bad_rng_is_refused(finished_run, tmp_path):
    cfg, _ = finished_run
    run = tmp_path / "run"
    shutil.copytree(cfg.out, run)
    path = ckpt.latest_checkpoint(run) / "state.json"
    state = json.loads(path.read_text())
    state["rng"] = [{"torch": "not base64 of a generator state"}]
    path.write_text(json.dumps(state))
    with pytest.raises(InputError, match="corrupt checkpoint state"):
        train(dataclasses.replace(cfg, out=run, steps=6))


@pytest.mark.slow
def test_compiled_model_trains_like_eager_and_saves_plain_weights(tokens, tmp_path):
    """train.compile=true (torch.compile, inductor on CPU): the same losses as eager, and the
    checkpoint holds the plain model's weights (no ``_orig_mod.`` names) that load back."""
    torch.set_num_threads(1)
    model = dataclasses.replace(tiny_config(None, None).model, dropout=0.0)
    runs = {name: train(tiny_config(tokens, tmp_path / name, steps=4, eval_interval=0, model=model, compile=flag))
            for name, flag in (("eager", False), ("compiled", True))}  # fmt: skip
    losses = {name: [r["loss"] for r in read_jsonl(tmp_path / name / "metrics.jsonl") if "loss" in r] for name in runs}
    assert losses["compiled"] == pytest.approx(losses["eager"], rel=1e-4)

    from gptkit.model.store import load_model

    compiled, _ = load_model(tmp_path / "compiled")
    eager, _ = load_model(tmp_path / "eager")
    for (name, a), (_, b) in zip(compiled.state_dict().items(), eager.state_dict().items(), strict=True):
        assert "_orig_mod" not in name and torch.allclose(a, b, atol=1e-5), name


def test_plain_progress_lines_when_stderr_is_a_file(tokens, tmp_path):
    """In a log file (Slurm, nohup, CI) every log_interval step is one plain line, as it happens."""
    import os
    import re
    import subprocess
    import sys

    recipe = tmp_path / "r.toml"
    dump_toml({"train": tiny_config(tokens, tmp_path / "run", steps=9, log_interval=3, eval_interval=0)}, recipe)
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.run([sys.executable, "-m", "gptkit", "train", "-r", recipe], stderr=stderr, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, log.read_text()
    lines = log.read_text().splitlines()
    steps = [line for line in lines if line.startswith("train ")]
    pattern = r"train (\d+)/9 steps  loss \d+\.\d{4}  lr \d\.\d\de-\d\d  tok/s [\d,]+  mfu (\d+\.\d%|n/a)  eta \d+m\d\ds"
    assert [re.fullmatch(pattern, line).group(1) for line in steps] == ["3", "6", "9"], lines
    assert not any("━" in line or "\r" in line for line in lines)  # no bar drawn into the file
