"""Does a model copy from its context? LAMBADA targets split by whether they occur earlier in the
passage, and the induction test of Olsson et al. (2022): a random token sequence repeated once.

A model with induction heads predicts the second copy far better than the first; one without
them scores both alike. LAMBADA's perplexity is ``exp`` of the mean nats per target word, so
≤ 10,000 means ≤ 9.2 nats.

``--corpus`` (the run's clean folder) adds two count baselines over the model's training text: a
word unigram, and the same unigram mixed with a uniform draw from the passage's earlier words
(half and half). They show how much of the target a model gains by copying alone.

    .venv/bin/python benchmarks/lambada_copying.py runs/quickstart/train --corpus runs/quickstart/clean
    .venv/bin/python benchmarks/lambada_copying.py RUN/checkpoints/step_00012000 --passages 300
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
from collections import Counter
from pathlib import Path

import torch

from gptkit.eval.tasks.lambada import BUNDLED_FILE
from gptkit.io.shards import iter_documents
from gptkit.model.store import load_model


def target_nats(model, tok, text: str) -> tuple[float, float, int, bool]:
    """(nats of the whole target word, nats of its first token, its tokens, whether it occurs
    earlier in the passage) for one passage."""
    context, target = text.rsplit(" ", 1)
    ids, n = tok.encode(context), len(tok.encode(" " + target))
    ids = (ids + tok.encode(" " + target))[-(model.config.block_size + 1) :]
    log_probs = model(torch.tensor([ids[:-1]]))[0, -n:].float().log_softmax(-1)
    picked = -log_probs.gather(1, torch.tensor(ids[-n:])[:, None]).squeeze(1)
    return picked.sum().item(), picked[0].item(), n, target in context


def induction_losses(model, length: int = 100, rows: int = 8, seed: int = 0) -> tuple[float, float]:
    """Mean loss on the first and on the second copy of random token sequences (at most half the
    context long, so that both copies fit)."""
    length = min(length, model.config.block_size // 2)
    seq = torch.randint(100, model.config.vocab_size, (rows, length), generator=torch.Generator().manual_seed(seed))
    x = torch.cat([seq, seq], 1)
    nats = -model(x[:, :-1]).float().log_softmax(-1).gather(2, x[:, 1:, None]).squeeze(2)
    return nats[:, : length - 1].mean().item(), nats[:, length:].mean().item()


WORD = re.compile(r"[A-Za-z']+")


def baseline_nats(corpus: Path, texts: list[str]) -> tuple[float, float]:
    """Mean nats per target of a word unigram of ``corpus`` (unseen words spelt by a letter
    unigram, with add-one mass per word type), and of that unigram mixed half and half with a
    uniform draw from the passage's earlier words."""
    docs = (d["text"] for f in sorted(corpus.glob("*.jsonl.zst")) for d in iter_documents(f))
    words = Counter(w for text in docs for w in WORD.findall(text))
    letters: Counter[str] = Counter()
    for w, n in words.items():
        for ch in w + "$":
            letters[ch] += n
    total, types, n_letters = sum(words.values()), len(words), sum(letters.values())

    def unigram(word: str) -> float:
        if word in words:
            return words[word] / (total + types)
        spelling = sum(math.log((letters[ch] + 1) / (n_letters + 60)) for ch in word + "$")
        return types / (total + types) * math.exp(spelling)

    alone = mixed = 0.0
    for text in texts:
        context, target = text.rsplit(" ", 1)
        earlier = WORD.findall(context)
        alone -= math.log(unigram(target))
        mixed -= math.log(0.5 * unigram(target) + 0.5 * earlier.count(target) / len(earlier))
    return alone / len(texts), mixed / len(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path, help="a gptkit model, checkpoint or run directory")
    ap.add_argument("--passages", type=int, default=300, help="the first N LAMBADA test passages")
    ap.add_argument("--lambada", type=Path, default=BUNDLED_FILE)
    ap.add_argument("--corpus", type=Path, help="the clean folder of the model's training text, for the baselines")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, tok = load_model(args.model)
    with gzip.open(args.lambada, "rt") as f:
        texts = [json.loads(line)["text"] for line in f][: args.passages]
    with torch.inference_mode():
        rows = [target_nats(model, tok, t) for t in texts]
        first, second = induction_losses(model)
    mean = sum(r[0] for r in rows) / len(rows)
    seen = [r[0] for r in rows if r[3]]
    unseen = [r[0] for r in rows if not r[3]]
    print(f"LAMBADA, {len(rows)} passages: perplexity {math.exp(mean):.3g} ({mean:.2f} nats per target word, "
          f"{sum(r[2] for r in rows) / len(rows):.2f} tokens, first token {sum(r[1] for r in rows) / len(rows):.2f})")
    print(f"  targets earlier in the passage: {len(seen)}, {sum(seen) / max(1, len(seen)):.2f} nats; "
          f"others: {len(unseen)}, {sum(unseen) / max(1, len(unseen)):.2f} nats")
    print(f"induction test: loss {first:.2f} on the first copy, {second:.2f} on the second")
    if args.corpus:
        alone, mixed = baseline_nats(args.corpus, texts)
        print(f"word unigram of the corpus: perplexity {math.exp(alone):.3g} ({alone:.2f} nats); "
              f"with copying: {math.exp(mixed):.3g} ({mixed:.2f} nats)")


if __name__ == "__main__":
    main()
