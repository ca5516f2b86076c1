"""How many steps a model shape needs before it copies from its context, on a task where copying
is the only way to learn: every training row repeats a random token span until the row is full.

Every ``--every`` steps it prints the training loss and the induction test of Olsson et al.
(2022): 100 random tokens of the whole vocabulary (at most half the context), repeated once. A model that has learnt to copy
by content scores the second copy far lower than the first. With a fixed ``--period`` a model can
also learn to look that many positions back, which lowers the training loss but not the test.

    .venv/bin/python benchmarks/induction_onset.py                    # the quickstart's shape
    .venv/bin/python benchmarks/induction_onset.py --period 32        # the positional shortcut
    .venv/bin/python benchmarks/induction_onset.py --alphabet 64      # spans of 64 token ids
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT(preset("tiny", n_layer=args.layers, n_head=args.heads, n_embd=args.width,
                       block_size=args.block, vocab_size=args.vocab))  # fmt: skip
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
