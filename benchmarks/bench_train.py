"""Training throughput: `gptkit train` against nanoGPT's own `train.py`, same run.

The configuration is nanoGPT's CPU one (4 layers × 256 wide, 4 heads, block 256, batch 8,
vocabulary 40k, fp32, 2 threads), on random tokens written both as gptkit token shards and as
nanoGPT's headerless ``train.bin``/``val.bin`` + ``meta.pkl``. nanoGPT is not part of gptkit:
clone it anywhere outside the repository and pass its folder (the benchmark writes its data
under ``DIR/data/gptkit_bench/``). nanoGPT runs as a child process (on CPU ``--device=cpu
--compile=False --dtype=float32``, ``OMP_NUM_THREADS`` = ``--threads``), gptkit in this process;
runs alternate (nanoGPT, gptkit, gptkit, nanoGPT, …). Both report per-step times; warm-up steps,
nanoGPT's first evaluation and gptkit's final checkpoint are not timed.

    git clone https://github.com/karpathy/nanoGPT /tmp/nanoGPT
    .venv/bin/python benchmarks/bench_train.py --nanogpt /tmp/nanoGPT
    .venv/bin/python benchmarks/bench_train.py --nanogpt /tmp/nanoGPT --steps 20 --repeats 3

On a GPU (``--device cuda``) both run with bf16 autocast, flash attention and fused AdamW, and
``--compile`` compiles both; nanoGPT's GPT-2 small configuration:

    .venv/bin/python benchmarks/bench_train.py --nanogpt /tmp/nanoGPT --device cuda --dtype bf16 \
        --compile --layers 12 --width 768 --heads 12 --block 1024 --batch 12 --vocab 50304 --steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from gptkit.model.flops import DTYPE_NAMES, Peak, device_peak, flops_per_token, measure_matmul_flops, mfu
from gptkit.model.gpt import preset
from gptkit.pack.format import write_token_shard
from gptkit.train.config import CheckpointSection, ModelSection, OptimSection, TrainConfig
from gptkit.train.metrics import read_jsonl
from gptkit.train.trainer import train


def make_tokens(path: Path, vocab: int, n_tokens: int) -> Path:
    rng = np.random.default_rng(0)
    eot = vocab - 1
    docs = [[*rng.integers(0, eot, size=999).tolist(), eot] for _ in range(n_tokens // 1000 + 1)]
    path.mkdir(parents=True)
    write_token_shard(path / "train_00000.bin", docs, vocab, eot)
    meta = {"stage": "pack", "vocab_size": vocab, "eot_id": eot, "tokenizer_hash": "bench", "dtype": "uint16"}
    (path / "manifest.json").write_text(json.dumps(meta))
    return path


TORCH_DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}  # "bf16" → torch.bfloat16


def nanogpt_data(nanogpt: Path, tokens: Path, vocab: int) -> str:
    """The same tokens as nanoGPT's dataset ``gptkit_bench``: headerless uint16 + ``meta.pkl``."""
    out = nanogpt / "data" / "gptkit_bench"
    out.mkdir(parents=True, exist_ok=True)
    raw = np.memmap(tokens / "train_00000.bin", dtype=np.uint16, mode="r", offset=1024)
    for split in ("train", "val"):
        np.asarray(raw).tofile(out / f"{split}.bin")
    (out / "meta.pkl").write_bytes(pickle.dumps({"vocab_size": vocab}))
    return out.name


def nanogpt_run(args, dataset: str, out: Path) -> float:
    """nanoGPT's ``train.py`` in a child process: tokens/s over its timed iterations."""
    dtype = str(TORCH_DTYPES[args.dtype]).removeprefix("torch.") if args.device == "cuda" else "float32"
    flags = dict(dataset=dataset, device=args.device, compile=args.compile and args.device == "cuda", dtype=dtype,
                 n_layer=args.layers, n_head=args.heads, n_embd=args.width, block_size=args.block, batch_size=args.batch,
                 gradient_accumulation_steps=1, max_iters=args.warmup + args.steps, eval_interval=10**9,
                 eval_iters=1, log_interval=1, dropout=0.0, bias=True, out_dir=str(out))  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    done = subprocess.run([sys.executable, "train.py", *(f"--{k}={v}" for k, v in flags.items())],
                          cwd=args.nanogpt, env=env, capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        sys.exit(f"nanoGPT's train.py failed:\n{done.stderr[-2000:]}")
    times = re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", done.stdout, re.M)
    ms = [float(t) for t in times][args.warmup + 1 :]  # not iter 0 (with its evaluation) nor warm-up
    return args.batch * args.block * len(ms) / (sum(ms) / 1000)


def gptkit_run(args, data: Path, out: Path) -> float:
    """`gptkit train` (the library call the CLI makes): tokens/s over the timed steps."""
    cfg = TrainConfig(
        data=data, out=out, steps=args.warmup + args.steps, block_size=args.block, micro_batch=args.batch,
        eval_interval=0, log_interval=1, threads=args.threads, device=args.device, dtype=args.dtype, resume=False,
        compile=args.compile,
        model=ModelSection(preset="mini", n_layer=args.layers, n_embd=args.width, n_head=args.heads,
                           block_size=args.block, dropout=0.0),
        optim=OptimSection(lr=6e-4), checkpoint=CheckpointSection(interval=0, keep_last=1),
    )  # fmt: skip
    train(cfg)
    records = [r for r in read_jsonl(out / "metrics.jsonl") if "loss" in r][args.warmup :]
    tokens = args.batch * args.block * len(records)
    return tokens / sum(args.batch * args.block / r["tokens_per_s"] for r in records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nanogpt", type=Path, required=True, help="a clone of github.com/karpathy/nanoGPT")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=40000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="gptkit's dtype; nanoGPT's too on CUDA (its train.py has no autocast on CPU: fp32)")  # fmt: skip
    ap.add_argument("--compile", action="store_true", help="torch.compile gptkit's model (and nanoGPT's on CUDA)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each run")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    args = ap.parse_args()
    if not (args.nanogpt / "train.py").is_file():
        sys.exit(f"{args.nanogpt} is not a nanoGPT clone (no train.py)")
    torch.set_num_threads(args.threads)

    config = preset("mini", n_layer=args.layers, n_embd=args.width, n_head=args.heads,
                    block_size=args.block, vocab_size=args.vocab)  # fmt: skip
    fpt = flops_per_token(config, args.block)
    on_gpu = args.device == "cuda"
    peak_flops = 0.0 if on_gpu else measure_matmul_flops(torch.float32, args.threads)  # best of before and after
    results: dict[str, list[float]] = {"nanoGPT train.py": [], "gptkit train": []}
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = (args.warmup + args.steps) * args.batch * (args.block + 1) * 2
        data = make_tokens(Path(tmp) / "tokens", args.vocab, n_tokens)
        dataset = nanogpt_data(args.nanogpt, data, args.vocab)
        for i in range(args.repeats):
            runs = [("nanoGPT train.py", lambda i=i: nanogpt_run(args, dataset, Path(tmp) / f"nano{i}")),
                    ("gptkit train", lambda i=i: gptkit_run(args, data, Path(tmp) / f"run{i}"))]  # fmt: skip
            for name, run in runs if i % 2 == 0 else runs[::-1]:  # alternate the order too
                results[name].append(run())
            print(f"repeat {i + 1}: " + ", ".join(f"{k} {v[-1]:,.0f} tok/s" for k, v in results.items()),
                  file=sys.stderr)  # fmt: skip

    if on_gpu:
        peak = device_peak("cuda", TORCH_DTYPES[args.dtype])
        if peak is None:
            sys.exit(f"no data-sheet peak for {torch.cuda.get_device_name()} in gptkit.model.flops")
    else:
        peak = Peak(
            max(peak_flops, measure_matmul_flops(torch.float32, args.threads)), "fp32 matmul, best of this run"
        )
    gptkit_mode = args.dtype + (" compiled" if args.compile else "")
    print(f"model {args.layers}x{args.width}, block {args.block}, batch {args.batch}, vocab {args.vocab}, "
          f"gptkit {gptkit_mode}, {args.device} ({args.threads} threads); {fpt / 1e6:.1f} MFLOP/token; "
          f"peak {peak.flops / 1e9:.0f} GFLOP/s ({peak.source}); {args.steps} timed steps x {args.repeats} "
          "alternating runs")  # fmt: skip
    print(f"{'loop':<18} {'median tok/s':>13} {'MFU':>7} {'best tok/s':>11} {'median vs nanoGPT':>18}")
    base = statistics.median(results["nanoGPT train.py"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:<18} {median:>13,.0f} {100 * mfu(median, fpt, peak):>6.1f}% {max(values):>11,.0f} "
              f"{median / base:>17.2f}x")  # fmt: skip
    print(
        "per-run ratios (same repeat): "
        + ", ".join(
            f"{g / n:.2f}x" for n, g in zip(results["nanoGPT train.py"], results["gptkit train"], strict=True)
        )
    )


if __name__ == "__main__":
    main()
