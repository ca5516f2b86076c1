"""FLOPs per token from the model shape, GPU peaks from the table, CPU peaks measured and cached."""

import json

import pytest
import torch
from conftest import run_gptkit

from gptkit.model import flops
from gptkit.model.flops import Peak, count_params, device_peak, flops_per_token, gpu_peak, mfu
from gptkit.model.gpt import GPT, PRESETS, preset

torch.set_num_threads(1)


@pytest.mark.parametrize("arch", ["gpt2", "gpt1"])
@pytest.mark.parametrize("bias", [True, False])
def test_count_params_matches_the_model(arch, bias):
    config = preset("nano", vocab_size=101, arch=arch, bias=bias)
    model = GPT(config)
    assert count_params(config) == model.num_params()
    assert count_params(config, non_embedding=False) == model.num_params(non_embedding=False)


def test_gpt2_small_flops_per_token():
    config = PRESETS["gpt2-small"]
    n = 123_689_472  # nanoGPT's "123.69M" (vocab padded to 50304, positions left out)
    assert count_params(config) == n
    assert flops_per_token(config) == 6 * n + 12 * 12 * 12 * 64 * 1024
    assert flops_per_token(config, seq_len=256) == 6 * n + 12 * 12 * 12 * 64 * 256


def test_flops_without_the_output_layer_leave_out_its_matmuls():
    """A classifier or reward head never runs the 50k-way output layer: its 6·V·C FLOPs per token
    would otherwise dominate a small model's count (and its logged MFU could pass 100%)."""
    cfg = preset("mini", vocab_size=50257, block_size=128)
    full, body = flops_per_token(cfg), flops_per_token(cfg, output_layer=False)
    assert full - body == 6 * cfg.padded_vocab_size * cfg.n_embd
    assert body == 6 * (count_params(cfg) - cfg.padded_vocab_size * cfg.n_embd) + 12 * 4 * 4 * 64 * 128


def test_gpu_table():
    assert gpu_peak("NVIDIA H100 80GB HBM3", torch.bfloat16).flops == 989e12
    assert gpu_peak("NVIDIA H100 PCIe", torch.bfloat16).flops == 756e12
    assert gpu_peak("NVIDIA H200", torch.bfloat16).flops == 989e12
    assert gpu_peak("NVIDIA A100-SXM4-40GB", torch.bfloat16).flops == 312e12
    assert gpu_peak("NVIDIA A100-SXM4-40GB", torch.float32).flops == 19.5e12
    assert gpu_peak("NVIDIA A100-SXM4-40GB", torch.float32, allow_tf32=True).flops == 156e12
    assert gpu_peak("Tesla V100-SXM2-16GB", torch.float16).flops == 125e12
    assert gpu_peak("Some Future GPU", torch.bfloat16) is None


def test_mfu():
    assert mfu(1000.0, 1e9, Peak(4e12, "x")) == pytest.approx(0.25)
    assert mfu(1000.0, 1e9, Peak(1e12, "x"), world_size=2) == pytest.approx(0.5)
    assert mfu(1000.0, 1e9, None) is None


def test_cpu_peak_is_measured_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    peak = device_peak("cpu", torch.float32, threads=1)
    assert "measured" in peak.source
    assert 1e8 < peak.flops < 1e13  # a real CPU figure, not a GPU's data sheet
    cache = json.loads((tmp_path / "gptkit" / "peak.json").read_text())
    (key,) = cache
    assert "1 threads|fp32" in key and cache[key]["flops"] == peak.flops
    cache[key]["flops"] = 123.0  # the cached figure is used, not re-measured
    (tmp_path / "gptkit" / "peak.json").write_text(json.dumps(cache))
    assert flops.cpu_peak(torch.float32, 1) == 123.0
    assert flops.cpu_peak(torch.float32, 1, refresh=True, size=256) != 123.0


def test_bench_peak_command(tmp_path):
    proc = run_gptkit("bench", "peak", "--threads", "1", "--size", "256", "--dtype", "fp32",
                      env={"XDG_CACHE_HOME": str(tmp_path)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "fp32" in proc.stdout and "measured" in proc.stdout
    assert (tmp_path / "gptkit" / "peak.json").is_file()
