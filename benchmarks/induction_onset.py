"""How many steps a model shape needs before it copies from its context, on a task where copying
is the only way to learn: every training row repeats a random token span until the row is full.

Every ``--every`` steps it prints the training loss and the induction test of Olsson et al.
(2022): 100 random tokens of the whole vocabulary (at most half the context), repeated once. A model that has learnt to copy
by content scores the second copy far lower than the first. With a fixed ``--period`` a model can
also learn to look that many positions back, which lowers the training loss but not the test.

    .venv/bin/python benchmarks/induction_onset.py                    # the quickstart's shape
    .venv/bin/python benchmarks/induction_onset.py --period 32        # the positional shortcut
    .venv/bin/python benchmarks/induction_onset.py --alphabet 64      # spans of 64 token ids
    .venv/bin/python benchmarks/induction_onset.py --init previous-token  # half of it given at init

``--init mimetic`` starts every attention layer as Trockman and Kolter's (2023) mimetic
initialisation (W_q W_k^T near +I, W_v W_o near +I: heads that attend to and pass on tokens like
the current one). ``--init previous-token`` starts the position embeddings as sinusoids and the
first layer's first two heads as previous-token heads (80 % of their attention one position
back), the half of an induction circuit that is learnt first, so only the content match is left.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from lambada_copying import induction_losses  # this folder: on the path when run as a script

from gptkit.model.gpt import GPT, preset


def repeated_spans(rows: int, width: int, alphabet: int, period: int, gen: torch.Generator) -> torch.Tensor:
    """``(rows, width)`` token ids: each row one random span of ids ``100 … 100 + alphabet``,
    repeated; the span is ``period`` long, or 8–128 tokens (drawn per row) when ``period`` is 0."""
    out = []
    for _ in range(rows):
        n = period or int(torch.randint(8, 129, (), generator=gen))
        span = torch.randint(100, 100 + alphabet, (n,), generator=gen)
        out.append(span.repeat(width // n + 1)[:width])
    return torch.stack(out)


def mimetic_init(model: GPT, gen: torch.Generator, qk: float = 0.7, vo: float = 0.4) -> None:
    """W_q W_k^T = qk (Z + I) per head and W_o W_v = vo (Z + I), Z ~ N(0, 1/d), split by SVD."""
    d, hd = model.config.n_embd, model.config.head_dim

    def factors(scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        u, s, vh = torch.linalg.svd(scale * (torch.randn(d, d, generator=gen) / d**0.5 + torch.eye(d)))
        return u * s.sqrt(), s.sqrt()[:, None] * vh

    with torch.no_grad():
        for block in model.transformer.h:
            w = block.attn.c_attn.weight  # rows: q, k, v
            for head in range(model.config.n_head):
                left, right = factors(qk)
                rows = slice(head * hd, (head + 1) * hd)
                w[:d][rows] = left[:, :hd].T * hd**0.25  # the 1/sqrt(hd) of attention undone
                w[d : 2 * d][rows] = right[:hd] * hd**0.25
            left, right = factors(vo)
            w[2 * d :] = right
            block.attn.c_proj.weight.copy_(left)


def previous_token_init(model: GPT, heads: int = 2, pairs: int = 16, gain: float = 2.0) -> None:
    """Sinusoidal positions whose first ``pairs`` frequencies spread over 0.6-2.5 rad (neighbours
    nearly orthogonal), and layer 0's first ``heads`` heads reading those pairs so that
    q_i . k_j ~ sum_k cos(w_k (i - j - 1)): largest one position back."""
    d, hd, n = model.config.n_embd, model.config.head_dim, model.config.block_size
    freq = 1 / 10000 ** (torch.arange(0, d, 2).float() / d)
    freq[:pairs] = torch.linspace(0.6, 2.5, pairs)
    angle = torch.arange(n)[:, None].float() * freq
    amplitude = 0.04 * math.sqrt(2)  # each dimension's spread twice the 0.02 of GPT-2's init
    w = model.transformer.h[0].attn.c_attn.weight
    with torch.no_grad():
        wpe = model.transformer.wpe.weight
        wpe[:, 0::2], wpe[:, 1::2] = amplitude * angle.sin(), amplitude * angle.cos()
        for head in range(heads):
            for k in range(min(pairs, hd // 2)):
                sin, cos = math.sin(float(freq[k])), math.cos(float(freq[k]))
                q_sin, q_cos = head * hd + 2 * k, head * hd + 2 * k + 1
                for row in (q_sin, q_cos, d + q_sin, d + q_cos):
                    w[row].zero_()
                w[q_sin, 2 * k], w[q_cos, 2 * k + 1] = gain, gain
                w[d + q_sin, 2 * k], w[d + q_sin, 2 * k + 1] = gain * cos, gain * sin  # position j + 1
                w[d + q_cos, 2 * k], w[d + q_cos, 2 * k + 1] = -gain * sin, gain * cos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab", type=int, default=4257, help="the model's vocabulary (the quickstart's: 4,257)")
    ap.add_argument("--alphabet", type=int, default=0, help="draw spans from this many ids (0: the whole vocabulary)")
    ap.add_argument("--period", type=int, default=0, help="span length (0: 8-128, drawn per row)")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--init", choices=["default", "mimetic", "previous-token"], default="default")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(preset("tiny", n_layer=args.layers, n_head=args.heads, n_embd=args.width,
                       block_size=args.block, vocab_size=args.vocab))  # fmt: skip
    if args.init == "mimetic":
        mimetic_init(model, torch.Generator().manual_seed(0))
    elif args.init == "previous-token":
        previous_token_init(model)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    alphabet = args.alphabet or args.vocab - 100
    started = time.time()
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, step / 100)
        x = repeated_spans(args.batch, args.block + 1, alphabet, args.period, gen)
        _, loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.every == 0:
            with torch.no_grad():
                first, second = induction_losses(model, seed=1)
            print(f"step {step}: training loss {loss.item():.2f}, induction test {first:.2f} on the first copy, "
                  f"{second:.2f} on the second ({time.time() - started:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
