"""SFT on OpenAssistant + hh-rlhf chosen: held-out assistant-token loss before and after, with the
loss on assistant tokens only against the loss on all tokens; then chat latency against transformers.

Everything goes through the real CLI (tokenizer train, data pack, train, data chat, sft, export):
a small model (``nano``: 2 layers x 64 wide, context 128) is pre-trained on the web-text sample,
then tuned twice from it with recipes/sft/instructgpt.toml (epochs, batch and learning rate overridden
for a busy 2-core CPU). All three
models (base, assistant-loss, all-loss) are scored on every held-out conversation's assistant
tokens with the same function. The chat part times the first token and tokens/s of a reply,
gptkit's decoder against ``transformers``' ``generate`` on the exported model, greedy, same prompt.

With ``--trl-python`` (a venv holding TRL, outside the repository), ``--part speed`` trains TRL's
``SFTTrainer`` (``assistant_only_loss``, the chat template exported with the model) and ``gptkit sft``
from the same exported weights on the same conversations: same sequence length, batch, steps, learning
rate and schedule, AdamW betas, clipping, fp32, thread count, no dropout. Each runs twice (``--short-steps``
and ``--steps``): tokens/s from each trainer's own timing of its loop in the long run, and tokens per
CPU-second from the CPU seconds (``getrusage`` of the child) the long run took beyond the short one, so
start-up, tokenization and saving cancel; then the held-out assistant-token loss of both final models,
by one function.

    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/bench-sft
    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/bench-sft --sft-epochs 2 --lr 1e-3
    python3 -m venv /work/bench/trl && /work/bench/trl/bin/pip install torch==2.13.0 && /work/bench/trl/bin/pip install trl
    nice .venv/bin/python benchmarks/bench_sft.py --work /tmp/bench-sft-trl --preset tiny --part speed \\
        --trl-python /work/bench/trl/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, the child's threads included) of a command, and its stdout."""
    print("$", " ".join(cmd), flush=True)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc.stdout


def pretrain_and_chat_data(work: Path, args: argparse.Namespace) -> None:
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


def sft_both_losses(work: Path, args: argparse.Namespace) -> None:
    for loss_on in ("assistant", "all"):
        gptkit("sft", work / "pre", "--data", work / "chat", "--out", work / f"sft-{loss_on}", "--loss-on", loss_on,
               "-r", "recipes/sft/instructgpt.toml", "--set", f"train.epochs={args.sft_epochs}",
               "--set", f"train.optim.lr={args.lr}", "--set", f"train.batch_size={args.sft_batch}",
               "--set", "train.threads=2", "--set", "train.device=cpu",
               "--set", "train.eval_interval=0", "--set", "train.dtype=fp32")


@torch.no_grad()
def held_out_loss(model_dir: Path, chat: Path, base: Path) -> tuple[float, int]:
    """Mean loss over the assistant tokens of every held-out conversation of ``chat`` (token-weighted),
    encoded with the tokenizer and template of the SFT base ``base``."""
    from gptkit.chat.sft import SFTObjective, collate
    from gptkit.model.store import load_model, resolve_model_dir
    from gptkit.train.objective import Setup

    model, _ = load_model(model_dir)
    objective = SFTObjective(chat, resolve_model_dir(base))
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


def gptkit_sft_timed(work: Path, out: Path, steps: int, args: argparse.Namespace) -> tuple[float, ...]:
    """``gptkit sft`` with the speed comparison's settings; wall and CPU seconds of the process and
    the seconds of its training loop."""
    sets = {"train.steps": steps, "train.batch_size": args.sft_batch, "train.micro_batch": args.sft_batch,
            "train.optim.lr": args.lr, "train.optim.weight_decay": 0.0, "train.optim.beta2": 0.95,
            "train.optim.grad_clip": 1.0, "train.schedule.kind": "cosine", "train.schedule.warmup_steps": 0,
            "train.schedule.min_lr_ratio": 0.0, "train.model.dropout": 0.0, "train.dtype": "fp32",
            "train.device": "cpu", "train.threads": args.threads, "train.eval_interval": 0,
            "train.checkpoint.interval": 0, "train.samples.prompts": "[]", "train.log_interval": 10}  # fmt: skip
    cmd = [sys.executable, "-m", "gptkit", "-q", "sft", str(work / "pre"), "--data", str(work / "chat"),
           "--out", str(out), *(f for k, v in sets.items() for f in ("--set", f"{k}={v}"))]  # fmt: skip
    wall, cpu, _ = timed(cmd)
    summary = json.loads((out / "manifest.json").read_text())["summary"]
    return wall, cpu, summary["tokens"] / summary["tokens_per_s"]  # the loop's seconds, as the trainer timed it


def trl_sft_timed(work: Path, out: Path, steps: int, args: argparse.Namespace, block: int) -> tuple[float, ...]:
    """TRL's SFTTrainer in its own venv on the exported base; wall and CPU seconds of the process and
    the seconds of ``trainer.train()``."""
    settings = {"hf_dir": str(work / "speed" / "hf"), "train_file": str(work / "speed" / "train.jsonl"),
                "out": str(out), "steps": steps, "batch": args.sft_batch, "max_length": block, "lr": args.lr,
                "beta2": 0.95, "threads": args.threads, "seed": 1337}  # fmt: skip
    path = work / "speed" / f"trl-{steps}.json"
    path.write_text(json.dumps(settings))
    wall, cpu, stdout = timed([args.trl_python, str(Path(__file__).with_name("_trl_sft.py")), str(path)])
    inside = json.loads(stdout.strip().splitlines()[-1])
    print("  TRL inside train():", inside, flush=True)
    return wall, cpu, inside["wall_s"]


def speed_vs_trl(work: Path, args: argparse.Namespace) -> dict:
    """gptkit sft against TRL's SFTTrainer: seconds of ``steps - short_steps`` steps, held-out loss."""
    from gptkit.chat.data import conversation_files
    from gptkit.io.shards import iter_jsonl
    from gptkit.model.store import read_model_config

    speed = work / "speed"
    speed.mkdir(parents=True, exist_ok=True)
    with (speed / "train.jsonl").open("w", encoding="utf-8") as f:
        for path in conversation_files(work / "chat", "train"):
            f.writelines(json.dumps({"messages": obj["messages"]}) + "\n" for _, obj in iter_jsonl(path))
    runs: dict[str, dict[int, tuple[float, ...]]] = {"gptkit": {}, "trl": {}}
    for steps in (args.short_steps, args.steps):  # alternate the two, short runs first
        runs["gptkit"][steps] = gptkit_sft_timed(work, speed / f"gptkit-{steps}", steps, args)
        if not (speed / "hf" / "config.json").is_file():
            gptkit("export", speed / f"gptkit-{steps}" / "base", "--out", speed / "hf")
        block = read_model_config(speed / f"gptkit-{steps}" / "base").block_size
        runs["trl"][steps] = trl_sft_timed(work, speed / f"trl-{steps}", steps, args, block)
    extra = args.steps - args.short_steps
    base = speed / f"gptkit-{args.steps}" / "base"
    mean_tokens = _mean_conversation_tokens(work, base, block)
    out = {"load_average": os.getloadavg(), "steps": extra, "batch": args.sft_batch, "threads": args.threads,
           "mean_tokens": mean_tokens, "base_held_out_loss": held_out_loss(base, work / "chat", base)[0]}  # fmt: skip
    for name, model_dir in (("gptkit", speed / f"gptkit-{args.steps}"), ("trl", speed / f"trl-{args.steps}")):
        long, short = runs[name][args.steps], runs[name][args.short_steps]
        loss, _ = held_out_loss(model_dir, work / "chat", base)
        out[name] = {"loop_s": long[2], "tokens_per_s": args.steps * args.sft_batch * mean_tokens / long[2],
                     "extra_wall_s": long[0] - short[0], "extra_cpu_s": long[1] - short[1],
                     "tokens_per_cpu_s": extra * args.sft_batch * mean_tokens / (long[1] - short[1]),
                     "held_out_loss": loss}  # fmt: skip
    out["ratio_tokens_per_s"] = out["gptkit"]["tokens_per_s"] / out["trl"]["tokens_per_s"]
    out["ratio_tokens_per_cpu_s"] = out["gptkit"]["tokens_per_cpu_s"] / out["trl"]["tokens_per_cpu_s"]
    return out


def _mean_conversation_tokens(work: Path, base: Path, block: int) -> float:
    """Tokens per training conversation as both trainers see it: cut to the context, those with
    nothing left to learn dropped (gptkit skips them, TRL drops fully masked examples)."""
    from gptkit.chat.sft import SFTObjective
    from gptkit.model.store import read_model_config
    from gptkit.train.objective import Setup

    objective = SFTObjective(work / "chat", base)
    objective.data()
    objective.bind(Setup(read_model_config(base), block, 8, 1, 0, 1, 0, torch.device("cpu")))
    lengths = [min(len(ids), block) for ids, _ in objective.train_examples]
    return sum(lengths) / len(lengths)


def quality(args: argparse.Namespace) -> None:
    """Held-out loss of the base and the two SFT runs, then chat latency against transformers."""
    sft_both_losses(args.work, args)
    losses = {}
    base = args.work / "sft-assistant" / "base"
    for name, path in (("base (pre-trained, template tokens added)", base),
                       ("SFT, loss on assistant tokens", args.work / "sft-assistant"),
                       ("SFT, loss on all tokens", args.work / "sft-all")):  # fmt: skip
        losses[name], count = held_out_loss(path, args.work / "chat", base)
    print(f"\nheld-out assistant-token loss ({count:,} tokens of the val conversations):")
    for name, value in losses.items():
        print(f"  {name:45s} {value:.4f}")
    latency = chat_latency(args.work / "sft-assistant", args.work, args.chat_tokens, args.repeats)
    print(f"\nchat reply, greedy, {args.chat_tokens} tokens (best of {args.repeats}):")
    for name, r in latency.items():
        print(f"  {name:14s} first token {r['first_token_ms']:7.1f} ms   decode {r['tokens_per_s']:7.1f} tok/s")
    ratio = latency["gptkit"]["tokens_per_s"] / latency["transformers"]["tokens_per_s"]
    print(json.dumps({"losses": losses, "latency": latency, "decode_ratio": ratio}))


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
    parser.add_argument("--part", choices=("quality", "speed", "all"), default="quality")
    parser.add_argument("--trl-python", help="interpreter of a venv with TRL (for --part speed)")
    parser.add_argument("--steps", type=int, default=120, help="speed: steps of the long runs")
    parser.add_argument("--short-steps", type=int, default=20, help="speed: steps of the short runs")
    parser.add_argument("--threads", type=int, default=1, help="speed: torch threads of both trainers")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pretrain_and_chat_data(args.work, args)
    if args.part in ("quality", "all"):
        quality(args)
    if args.part in ("speed", "all"):
        if not args.trl_python:
            parser.error("--part speed needs --trl-python")
        result = speed_vs_trl(args.work, args)
        print(f"\ngptkit sft vs TRL SFTTrainer, {args.steps} steps x {result['batch']} conversations "
              f"(CPU: the {result['steps']} steps past --short-steps):")  # fmt: skip
        for name in ("gptkit", "trl"):
            r = result[name]
            print(f"  {name:7s} loop {r['loop_s']:7.1f} s {r['tokens_per_s']:8.0f} tok/s | "
                  f"{r['extra_cpu_s']:7.1f} CPU-s {r['tokens_per_cpu_s']:8.0f} tok/CPU-s | "
                  f"held-out loss {r['held_out_loss']:.4f}")  # fmt: skip
        print(f"  held-out loss of the base: {result['base_held_out_loss']:.4f}")
        print(f"  gptkit/TRL: {result['ratio_tokens_per_s']:.2f}x tok/s, {result['ratio_tokens_per_cpu_s']:.2f}x "
              f"tok/CPU-s; load average {result['load_average']}")  # fmt: skip
        print(json.dumps(result))


if __name__ == "__main__":
    main()
