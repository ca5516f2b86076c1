"""Model FLOPs per token and model FLOPs utilisation (MFU) against the right peak.

FLOPs per trained token follow the PaLM appendix / nanoGPT estimate ``6N + 12·L·H·Q·T``
(``N`` non-embedding parameters, output layer included; ``L`` layers, ``H`` heads, ``Q`` head
size, ``T`` sequence length). The peak is the device's own: a table of dense tensor-core
figures for known GPUs, and for CPUs a matmul throughput measured on this machine with the
thread count in use (``gptkit bench peak``), cached in ``~/.cache/gptkit/peak.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gptkit.io.atomic import atomic_write_json
from gptkit.model.gpt import GPTConfig

#: Dense (no sparsity) peak FLOP/s from the vendors' data sheets: bf16/fp16 tensor cores, tf32 tensor
#: cores, plain fp32. Matched against ``torch.cuda.get_device_name`` in order (first match wins).
GPU_PEAKS: list[tuple[str, dict[str, float]]] = [
    ("H200", {"bf16": 989e12, "tf32": 494.5e12, "fp32": 66.9e12}),
    ("H100 NVL", {"bf16": 835e12, "tf32": 417.5e12, "fp32": 60.0e12}),
    ("H100 PCIe", {"bf16": 756e12, "tf32": 378e12, "fp32": 51.2e12}),
    ("H100", {"bf16": 989e12, "tf32": 494.5e12, "fp32": 66.9e12}),  # SXM
    ("GH200", {"bf16": 989e12, "tf32": 494.5e12, "fp32": 66.9e12}),
    ("A100", {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12}),
    ("A10G", {"bf16": 70e12, "tf32": 35e12, "fp32": 31.2e12}),
    ("A10", {"bf16": 125e12, "tf32": 62.5e12, "fp32": 31.2e12}),
    ("L40S", {"bf16": 362e12, "tf32": 183e12, "fp32": 91.6e12}),
    ("L4", {"bf16": 121e12, "tf32": 60e12, "fp32": 30.3e12}),
    ("RTX 4090", {"bf16": 165.2e12, "tf32": 82.6e12, "fp32": 82.6e12}),
    ("RTX 3090", {"bf16": 71e12, "tf32": 35.6e12, "fp32": 35.6e12}),
    ("V100", {"fp16": 125e12, "fp32": 15.7e12}),
    ("T4", {"fp16": 65e12, "fp32": 8.1e12}),
]

DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def count_params(config: GPTConfig, non_embedding: bool = True) -> int:
    """Parameters of ``GPT(config)`` without building it (``non_embedding``: positions left out)."""
    C, L = config.n_embd, config.n_layer
    ln = 2 * C if config.bias else C
    linear_bias = 9 * C if config.bias else 0  # c_attn 3C, attn c_proj C, c_fc 4C, mlp c_proj C
    per_layer = 12 * C * C + linear_bias + 2 * ln
    final_ln = ln if config.arch == "gpt2" else 0
    n = config.padded_vocab_size * C + L * per_layer + final_ln
    return n if non_embedding else n + config.block_size * C


def flops_per_token(config: GPTConfig, seq_len: int | None = None, output_layer: bool = True) -> int:
    """Training FLOPs (forward + backward) per token at sequence length ``seq_len`` (default: context).

    ``output_layer=False``: a loss that never runs the vocabulary-sized output layer on the tokens
    (a classifier or reward head), whose tied matrix is then only an embedding lookup."""
    T = config.block_size if seq_len is None else seq_len
    head = 0 if output_layer else 6 * config.padded_vocab_size * config.n_embd
    return 6 * count_params(config) - head + 12 * config.n_layer * config.n_head * config.head_dim * T


@dataclass
class Peak:
    flops: float  # FLOP/s
    source: str  # where the figure comes from, for logs


def device_peak(device: str | torch.device, dtype: torch.dtype, threads: int | None = None) -> Peak | None:
    """The peak FLOP/s of ``device`` for matmuls in ``dtype``; None for an unknown GPU.

    On CPU the peak is measured once per (CPU, thread count, dtype, torch version) and cached.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return gpu_peak(torch.cuda.get_device_name(device), dtype, torch.backends.cuda.matmul.allow_tf32)
    if device.type == "cpu":
        threads = threads or torch.get_num_threads()
        return Peak(
            cpu_peak(dtype, threads), f"measured {DTYPE_NAMES.get(dtype, dtype)} matmul, {threads} threads"
        )
    return None


def gpu_peak(name: str, dtype: torch.dtype, allow_tf32: bool = False) -> Peak | None:
    """The data-sheet peak of the GPU called ``name`` (as ``torch.cuda.get_device_name`` says)."""
    kind = DTYPE_NAMES.get(dtype, "fp32")
    if kind == "fp32" and allow_tf32:
        kind = "tf32"
    for pattern, peaks in GPU_PEAKS:
        if pattern.lower() in name.lower():
            flops = peaks.get(kind) or (peaks.get("fp16") if kind == "bf16" else None) or peaks.get("fp32")
            return Peak(flops, f"{pattern} {kind} data sheet") if flops else None
    return None


def mfu(
    tokens_per_second: float, flops_per_tok: float, peak: Peak | None, world_size: int = 1
) -> float | None:
    """Model FLOPs utilisation in [0, 1] over ``world_size`` devices; None without a known peak."""
    if peak is None or peak.flops <= 0:
        return None
    return tokens_per_second * flops_per_tok / (peak.flops * world_size)


# --- measured CPU peak -----------------------------------------------------------------------------


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/gptkit/peak.json`` (default ``~/.cache/gptkit/peak.json``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gptkit" / "peak.json"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cache_key(dtype: torch.dtype, threads: int) -> str:
    return f"{cpu_name()}|{threads} threads|{DTYPE_NAMES.get(dtype, str(dtype))}|torch {torch.__version__}"


def cpu_peak(dtype: torch.dtype, threads: int, refresh: bool = False, size: int = 2048) -> float:
    """Measured CPU matmul FLOP/s for ``dtype`` on ``threads`` threads, cached across runs."""
    path = cache_path()
    key = _cache_key(dtype, threads)
    cached = _read_cache(path)
    if not refresh and key in cached:
        return float(cached[key]["flops"])
    flops = measure_matmul_flops(dtype, threads, size)
    cached[key] = {"flops": flops, "size": size, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with contextlib.suppress(OSError):  # a read-only home still gets a figure, just not a cached one
        atomic_write_json(path, cached)
    return flops


def measure_matmul_flops(dtype: torch.dtype, threads: int, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of ``size``³ matmuls in ``dtype`` on ``threads`` CPU threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=gen).to(dtype)
        b = torch.randn(size, size, generator=gen).to(dtype)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - t0)
        return 2 * size**3 / best
    finally:
        torch.set_num_threads(before)


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
