"""Greedy decoding of this checkout against another code tree's, in one process, alternating.

On a shared machine two processes run minutes apart see different loads; here both decoders
(the other tree's ``gptkit/model/gpt.py`` and ``generate.py`` loaded under other names) run the
same weights and requests by turns, ``--rounds`` times each, and the CPU times are compared.
The requests have ``bench_eval.py``'s CoQA shape: random 224-token prompts (the context 256
minus 32 new tokens), each ``--repeats`` times, sorted, decoded in batches of 16.

    git archive <base> gptkit | tar -x -C /tmp/base
    nice .venv/bin/python benchmarks/bench_generate_ab.py /tmp/base
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gptkit.model import generate as new_generate  # noqa: E402
from gptkit.model import gpt as new_gpt  # noqa: E402


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", type=Path, help="the other code tree (holding gptkit/model/)")
    p.add_argument("--repeats", type=int, default=4, help="copies of each of the 12 prompts")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--vocab", type=int, default=50257)
    args = p.parse_args()
    torch.set_num_threads(1)
    base_gpt = load("base_gpt", args.base / "gptkit" / "model" / "gpt.py")
    base_generate = load("base_generate", args.base / "gptkit" / "model" / "generate.py")
    torch.manual_seed(0)
    config = new_gpt.preset("tiny", vocab_size=args.vocab, block_size=256)
    models = {
        "this": new_gpt.GPT(config).eval(),
        "base": base_gpt.GPT(base_gpt.GPTConfig(**config.to_dict())).eval(),
    }
    models["base"].load_state_dict(models["this"].state_dict())
    torch.manual_seed(1)
    distinct = [torch.randint(0, args.vocab, (224,)).tolist() for _ in range(12)]
    prompts = sorted(prompt for prompt in distinct for _ in range(args.repeats))
    seconds: dict[str, list[float]] = {"base": [], "this": []}
    tokens = {}
    for _ in range(args.rounds):
        for name, decoder in (("base", base_generate), ("this", new_generate)):
            requests = [decoder.Request(prompt, 32) for prompt in prompts]
            greedy = decoder.SamplingConfig(max_tokens=32, temperature=0)
            start = time.process_time()
            completions = decoder.generate(models[name], requests, greedy, batch_size=16)
            seconds[name].append(time.process_time() - start)
            tokens[name] = [c.tokens for c in completions]
    print(f"{len(prompts)} requests x 32 tokens, batch 16, {args.rounds} alternating rounds, CPU seconds")
    for name, times in seconds.items():
        print(f"{name:<5} min {min(times):.3f}  median {statistics.median(times):.3f}")
    print(f"speed-up: {min(seconds['base']) / min(seconds['this']):.2f}x (min), "
          f"{statistics.median(seconds['base']) / statistics.median(seconds['this']):.2f}x (median); "
          f"same tokens: {tokens['base'] == tokens['this']}")  # fmt: skip


if __name__ == "__main__":
    main()
