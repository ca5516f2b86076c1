"""How many of a model's sampled words are English words: samples under several sampling
settings, scored against the words of LAMBADA's test passages (novels the model never saw) as
the dictionary. A measure for the quickstart's "a sample of mostly real words".

    .venv/bin/python benchmarks/sample_words.py runs/quickstart/train
    .venv/bin/python benchmarks/sample_words.py RUN/train --seeds 16 --prompt "She"
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

import torch

from gptkit.eval.tasks.lambada import BUNDLED_FILE
from gptkit.model.generate import SamplingConfig, generate_text
from gptkit.model.store import load_model

WORD = re.compile(r"[A-Za-z]+")
#: (temperature, top-k, top-p); the first is `gptkit run`'s default for the generate stage
SETTINGS = [(0.8, 40, None), (0.6, 40, None), (0.8, None, 0.9), (0.5, None, None), (1.0, None, None)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a gptkit model or run directory (e.g. RUN/train)")
    p.add_argument("--prompt", default="The")
    p.add_argument("--max-tokens", type=int, default=60)
    p.add_argument("--seeds", type=int, default=8, help="samples per setting (seeds 0..N-1)")
    args = p.parse_args()
    torch.set_num_threads(1)
    model, tok = load_model(args.model)
    with gzip.open(BUNDLED_FILE, "rt", encoding="utf-8") as f:
        dictionary = {w.lower() for line in f for w in WORD.findall(json.loads(line)["text"])}
    print(f"dictionary: {len(dictionary):,} words of LAMBADA's test passages; {args.seeds} samples per setting\n")
    for temperature, top_k, top_p in SETTINGS:
        real = total = 0
        first = ""
        for seed in range(args.seeds):
            config = SamplingConfig(args.max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
            text = "".join(generate_text(model, tok, args.prompt, config))
            words = WORD.findall(text)
            real, total = real + sum(w.lower() in dictionary for w in words), total + len(words)
            first = first or text
        print(f"temperature {temperature}, top-k {top_k}, top-p {top_p}: {real / max(total, 1):.1%} of {total} words")
        print(f"    {args.prompt}{first[:150]}".replace("\n", " "))


if __name__ == "__main__":
    main()
