"""Benchmark of the model half of training: CPU matmul peak, train-step and generation speed.

Measures, in one run on the same inputs:
- the fp32 / bf16 matmul peak that MFU is computed against (gptkit's measurement, with numpy's
  BLAS matmul as a cross-check),
- forward + backward tokens/s of gptkit's GPT and of transformers' GPT2LMHeadModel holding the
  same weights (and gptkit's MFU against the measured peak),
- greedy generation tokens/s: gptkit with its KV cache, gptkit recomputing the whole context per
  token (nanoGPT's ``generate``), and transformers' ``generate`` (with its cache).

Example: .venv/bin/python benchmarks/bench_model.py --threads 2
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_matmul_flops(size: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), dtype=np.float32), rng.standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / best_of(lambda: a @ b, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=40000)
    parser.add_argument("--steps", type=int, default=5, help="timed train steps (best one counts)")
    parser.add_argument("--gen-tokens", type=int, default=200)
    args = parser.parse_args()

    import transformers

    from gptkit.model.flops import flops_per_token, measure_matmul_flops
    from gptkit.model.generate import SamplingConfig, generate_ids
    from gptkit.model.gpt import GPT, GPTConfig
    from gptkit.model.hf import export_hf

    torch.set_num_threads(args.threads)
    rows = []

    peak32 = measure_matmul_flops(torch.float32, args.threads, 2048)
    peak16 = measure_matmul_flops(torch.bfloat16, args.threads, 2048)
    rows.append(("matmul peak fp32 2048³ (gptkit bench peak)", f"{peak32 / 1e9:,.0f} GFLOP/s", ""))
    rows.append(("matmul peak bf16 2048³ (gptkit bench peak)", f"{peak16 / 1e9:,.0f} GFLOP/s", ""))
    rows.append(("numpy fp32 matmul 2048³ (BLAS)", f"{numpy_matmul_flops(2048, 5) / 1e9:,.0f} GFLOP/s", ""))

    torch.manual_seed(0)
    config = GPTConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.width, block_size=args.block,
                       vocab_size=args.vocab)  # fmt: skip
    model = GPT(config)
    with tempfile.TemporaryDirectory() as tmp:
        export_hf(model, None, tmp)
        hf = transformers.GPT2LMHeadModel.from_pretrained(tmp, local_files_only=True)
    x = torch.randint(0, args.vocab, (args.batch, args.block))

    def gptkit_step():
        _, loss = model(x, targets=x)
        loss.backward()

    def hf_step():
        hf(x, labels=x).loss.backward()

    tokens = args.batch * args.block
    fpt = flops_per_token(config, args.block)
    t_ours, t_hf = best_of(gptkit_step, args.steps), best_of(hf_step, args.steps)
    rows.append(("train step fwd+bwd, gptkit GPT", f"{tokens / t_ours:,.0f} tok/s", f"MFU {tokens / t_ours * fpt / peak32:.0%}"))
    rows.append(("train step fwd+bwd, transformers GPT2LMHeadModel", f"{tokens / t_hf:,.0f} tok/s",
                 f"gptkit {t_hf / t_ours:.2f}x"))  # fmt: skip

    model.eval()
    hf.eval()
    prompt = x[0, :16].tolist()
    n = args.gen_tokens
    greedy = SamplingConfig(max_tokens=n, temperature=0, stop_at_eot=False)

    @torch.no_grad()
    def recompute():  # nanoGPT's generate: the whole context again for every token
        idx = torch.tensor([prompt])
        for _ in range(n):
            idx = torch.cat([idx, model(idx[:, -args.block :])[:, -1:].argmax(-1)], dim=1)

    @torch.no_grad()
    def hf_generate():
        hf.generate(torch.tensor([prompt]), max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0)

    t_cache = best_of(lambda: list(generate_ids(model, prompt, greedy)), 2)
    t_recompute, t_hf_gen = best_of(recompute, 2), best_of(hf_generate, 2)
    rows.append(("generate greedy, gptkit KV cache", f"{n / t_cache:,.0f} tok/s", ""))
    rows.append(("generate greedy, gptkit recomputing context", f"{n / t_recompute:,.0f} tok/s",
                 f"cache {t_recompute / t_cache:.2f}x"))  # fmt: skip
    rows.append(("generate greedy, transformers generate()", f"{n / t_hf_gen:,.0f} tok/s", f"gptkit {t_hf_gen / t_cache:.2f}x"))

    print(f"config: {args.layers} layers x {args.width}, {args.heads} heads, block {args.block}, batch {args.batch}, "
          f"vocab {args.vocab}, fp32, {args.threads} threads, torch {torch.__version__}")  # fmt: skip
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>18}  {note}")


if __name__ == "__main__":
    main()
