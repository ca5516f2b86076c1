"""SFT on OpenAssistant + hh-rlhf chosen: held-out assistant-token loss before and after, with the
loss on assistant tokens only against the loss on all tokens; then chat latency against transformers.

Everything goes through the real CLI (tokenizer train, data pack, train, data chat, sft, export):
a small model (``nano``: 2 layers x 64 wide, context 128) is pre-trained on the web-text sample,
then tuned twice from it with recipes/sft/instructgpt.toml (epochs, batch and learning rate overridden
for a busy 2-core CPU). All three
models (base, assistant-loss, all-loss) are scored on every held-out conversation's assistant
tokens with the same function. The chat part times the first token and tokens/s of a reply,
gptkit's decoder against ``transformers``' ``generate`` on the exported model, greedy, same prompt.

    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/bench-sft
    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/bench-sft --sft-epochs 2 --lr 1e-3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HH = ("helpful-base", "harmless-base")


def gptkit(*args: object) -> None:
    cmd = [sys.executable, "-m", "gptkit", "-q", *map(str, args)]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def prepare(work: Path, args: argparse.Namespace) -> None:
    web = DATA / "corpora" / "web-text"
    gptkit("tokenizer", "train", web, "-o", work / "tok", "-m", args.merges, "--threads", 2)
    gptkit("data", "pack", web, "--tokenizer", work / "tok", "-o", work / "tokens", "--val-docs", 50, "-w", 2)
    gptkit("train", "-r", "recipes/train/tiny-cpu.toml", "--data", work / "tokens", "--out", work / "pre",
           "--steps", args.pretrain_steps, "--set", f"train.model.preset={args.preset}",
           "--set", "train.model.block_size=128", "--set", "train.schedule.warmup_steps=10",
           "--set", "train.eval_interval=0", "--set", "train.samples.prompts=[]")
    rlhf = DATA / "rlhf"
    gptkit("data", "chat", rlhf / "openassistant" / "en_100_tree.jsonl",
           *(rlhf / "hh-rlhf" / s / "test.jsonl.gz" for s in HH), "-o", work / "chat", "--oasst-branch", "all")
    for loss_on in ("assistant", "all"):
        gptkit("sft", work / "pre", "--data", work / "chat", "--out", work / f"sft-{loss_on}", "--loss-on", loss_on,
               "-r", "recipes/sft/instructgpt.toml", "--set", f"train.epochs={args.sft_epochs}",
               "--set", f"train.optim.lr={args.lr}", "--set", f"train.batch_size={args.sft_batch}",
               "--set", "train.threads=2", "--set", "train.device=cpu",
               "--set", "train.eval_interval=0", "--set", "train.dtype=fp32")


@torch.no_grad()
def held_out_loss(model_dir: Path, work: Path) -> tuple[float, int]:
    """Mean loss over the assistant tokens of every held-out conversation (token-weighted)."""
    from gptkit.chat.sft import SFTObjective, collate
    from gptkit.model.store import load_model, resolve_model_dir
    from gptkit.train.objective import Setup

    model, _ = load_model(model_dir)
    objective = SFTObjective(work / "chat", resolve_model_dir(work / "sft-assistant" / "base"))
    objective.data()
    objective.bind(Setup(model.config, model.config.block_size, 8, 1, 0, 1, 0, torch.device("cpu")))
    total, count = 0.0, 0
    for i in range(0, len(objective.val_examples), 8):
        x, y, _ = collate([[e] for e in objective.val_examples[i : i + 8]], objective.tokenizer.eot_id)
        logits = model(x).float()
        total += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-1,
                                                         reduction="sum"))  # fmt: skip
        count += int((y >= 0).sum())
    return total / count, count


def chat_latency(run: Path, work: Path, tokens: int, repeats: int) -> dict:
    """First-token latency and decode tokens/s: gptkit's decoder vs transformers, greedy, same prompt."""
    from transformers import AutoModelForCausalLM

    from gptkit.chat.template import encode_chat, template_of
    from gptkit.model.generate import Request, SamplingConfig, generate
    from gptkit.model.store import load_model

    model, tok = load_model(run)
    template = template_of(tok, run)
    prompt, _ = encode_chat(tok, template, [{"role": "user", "content": "How do I bake bread at home?"}], True)
    gptkit("export", run, "--out", work / "hf")
    hf = AutoModelForCausalLM.from_pretrained(work / "hf").eval()
    greedy = SamplingConfig(temperature=0)

    def ours(n: int) -> float:
        start = time.perf_counter()
        generate(model, [Request(prompt, n)], greedy)
        return time.perf_counter() - start

    def theirs(n: int) -> float:
        ids = torch.tensor([prompt])
        start = time.perf_counter()
        with torch.no_grad():
            hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n, do_sample=False)
        return time.perf_counter() - start

    out = {}
    for name, fn in (("gptkit", ours), ("transformers", theirs)):
        fn(2)  # warm-up
        first = min(fn(1) for _ in range(repeats))
        full = min(fn(tokens) for _ in range(repeats))
        out[name] = {"first_token_ms": 1000 * first, "tokens_per_s": (tokens - 1) / (full - first)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--merges", type=int, default=4000)
    parser.add_argument("--preset", default="nano", help="model shape (context set to 128)")
    parser.add_argument("--pretrain-steps", type=int, default=50)
    parser.add_argument("--sft-epochs", type=float, default=0.1)
    parser.add_argument("--sft-batch", type=int, default=8, help="conversations per step (the paper: 32)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--chat-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    prepare(args.work, args)
    losses = {}
    for name, path in (("base (pre-trained, template tokens added)", args.work / "sft-assistant" / "base"),
                       ("SFT, loss on assistant tokens", args.work / "sft-assistant"),
                       ("SFT, loss on all tokens", args.work / "sft-all")):  # fmt: skip
        losses[name], count = held_out_loss(path, args.work)
    print(f"\nheld-out assistant-token loss ({count:,} tokens of the val conversations):")
    for name, value in losses.items():
        print(f"  {name:45s} {value:.4f}")
    latency = chat_latency(args.work / "sft-assistant", args.work, args.chat_tokens, args.repeats)
    print(f"\nchat reply, greedy, {args.chat_tokens} tokens (best of {args.repeats}):")
    for name, r in latency.items():
        print(f"  {name:14s} first token {r['first_token_ms']:7.1f} ms   decode {r['tokens_per_s']:7.1f} tok/s")
    ratio = latency["gptkit"]["tokens_per_s"] / latency["transformers"]["tokens_per_s"]
    print(json.dumps({"losses": losses, "latency": latency, "decode_ratio": ratio}))


if __name__ == "__main__":
    main()
