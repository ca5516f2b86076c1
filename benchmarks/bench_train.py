"""Training throughput: `gptkit train` against a bare PyTorch loop of the same model, same run.

The configuration is nanoGPT's CPU one (4 layers × 256 wide, 4 heads, block 256, batch 8,
vocabulary ~40k, fp32, 2 threads), on random tokens written as gptkit token shards. The bare loop
is what nanoGPT's train.py does per step with the same GPT module: random windows from a memmap,
forward, backward, clip, AdamW. Runs alternate (bare, gptkit, gptkit, bare, …) and the fastest of
each is compared (a busy machine only slows runs down); warm-up steps are not timed, nor is the
checkpoint gptkit writes at the end.

    .venv/bin/python benchmarks/bench_train.py                 # defaults above
    .venv/bin/python benchmarks/bench_train.py --steps 20 --repeats 3 --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gptkit.model.flops import Peak, flops_per_token, measure_matmul_flops, mfu
from gptkit.model.gpt import GPT, preset
from gptkit.pack.format import write_token_shard
from gptkit.train.config import CheckpointSection, ModelSection, OptimSection, TrainConfig
from gptkit.train.metrics import read_jsonl
from gptkit.train.trainer import train

NANOGPT_REFERENCE = 1400  # tok/s measured with nanoGPT's own loop on this machine (shared/notes/training.md)


def make_tokens(path: Path, vocab: int, n_tokens: int) -> Path:
    rng = np.random.default_rng(0)
    eot = vocab - 1
    docs = [[*rng.integers(0, eot, size=999).tolist(), eot] for _ in range(n_tokens // 1000 + 1)]
    path.mkdir(parents=True)
    write_token_shard(path / "train_00000.bin", docs, vocab, eot)
    meta = {"stage": "pack", "vocab_size": vocab, "eot_id": eot, "tokenizer_hash": "bench", "dtype": "uint16"}
    (path / "manifest.json").write_text(json.dumps(meta))
    return path


def bare_loop(args, data: Path) -> float:
    """nanoGPT's loop with the same model: returns tokens/s over the timed steps."""
    torch.manual_seed(1337)
    model = GPT(preset("mini", n_layer=args.layers, n_embd=args.width, n_head=args.heads,
                       block_size=args.block, vocab_size=args.vocab))  # fmt: skip
    groups = [{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]  # fmt: skip
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95))
    tokens = np.memmap(data / "train_00000.bin", dtype=np.uint16, mode="r", offset=1024)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.dtype == "bf16")
    times = []
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        ix = torch.randint(len(tokens) - args.block - 1, (args.batch,))
        x = torch.stack([torch.from_numpy(tokens[i : i + args.block].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(tokens[i + 1 : i + 1 + args.block].astype(np.int64)) for i in ix])
        with autocast:
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    return args.batch * args.block * len(times) / sum(times)


def gptkit_run(args, data: Path, out: Path) -> float:
    """`gptkit train` (the library call the CLI makes): tokens/s over the timed steps."""
    cfg = TrainConfig(
        data=data, out=out, steps=args.warmup + args.steps, block_size=args.block, micro_batch=args.batch,
        eval_interval=0, log_interval=1, threads=args.threads, device="cpu", dtype=args.dtype, resume=False,
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
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=40000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps at the start of each run")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    config = preset("mini", n_layer=args.layers, n_embd=args.width, n_head=args.heads,
                    block_size=args.block, vocab_size=args.vocab)  # fmt: skip
    fpt = flops_per_token(config, args.block)
    # measured in this run, before and after the runs, best kept (not the cached figure gptkit train uses)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    peak_flops = measure_matmul_flops(dtype, args.threads)
    results: dict[str, list[float]] = {"bare PyTorch loop": [], "gptkit train": []}
    with tempfile.TemporaryDirectory() as tmp:
        n_tokens = (args.warmup + args.steps) * args.batch * (args.block + 1) * 2
        data = make_tokens(Path(tmp) / "tokens", args.vocab, n_tokens)
        for i in range(args.repeats):
            runs = [("bare PyTorch loop", lambda: bare_loop(args, data)),
                    ("gptkit train", lambda i=i: gptkit_run(args, data, Path(tmp) / f"run{i}"))]  # fmt: skip
            for name, run in runs if i % 2 == 0 else runs[::-1]:  # alternate the order too
                results[name].append(run())
            print(f"repeat {i + 1}: bare {results['bare PyTorch loop'][-1]:,.0f} tok/s, "
                  f"gptkit {results['gptkit train'][-1]:,.0f} tok/s", file=sys.stderr)  # fmt: skip

    peak = Peak(max(peak_flops, measure_matmul_flops(dtype, args.threads)), f"{args.dtype} matmul, best of this run")
    print(f"model {args.layers}x{args.width}, block {args.block}, batch {args.batch}, vocab {args.vocab}, "
          f"{args.dtype}, {args.threads} threads; {fpt / 1e6:.1f} MFLOP/token; peak {peak.flops / 1e9:.0f} "
          f"GFLOP/s ({peak.source}); {args.steps} timed steps x {args.repeats} alternating runs")  # fmt: skip
    print("best = fastest run (a busy machine only ever slows a run down); median = middle run")
    print(f"{'loop':<20} {'best tok/s':>11} {'MFU':>7} {'median tok/s':>13} {'best vs bare':>13}")
    bare = max(results["bare PyTorch loop"])
    for name, values in results.items():
        best = max(values)
        print(f"{name:<20} {best:>11,.0f} {100 * mfu(best, fpt, peak):>6.1f}% {statistics.median(values):>13,.0f} "
              f"{best / bare:>12.2f}x")  # fmt: skip
    print(f"(nanoGPT's own loop measured {NANOGPT_REFERENCE:,} tok/s on this machine when it was idle)")


if __name__ == "__main__":
    main()
