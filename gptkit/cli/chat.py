"""``gptkit data chat``, ``gptkit sft`` and ``gptkit chat``: demonstrations, tuning, talking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, already_complete, err, out


def register_data(app: typer.Typer) -> None:
    """Add ``chat`` to the ``data`` app."""
    app.command(name="chat")(data_chat)


def data_chat(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Conversation files (.jsonl[.gz|.zst…], .parquet), directories, globs or datasets folders."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory for the conversation shards.")] = None,
    oasst_branch: Annotated[
        str | None, typer.Option("--oasst-branch", help="OpenAssistant trees: 'best' ranked path or 'all' paths.")
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option("--val-fraction", min=0.0, max=0.999, help="Share held out (default 0.05).")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Turn demonstrations into conversation shards that 'gptkit sft' reads.

    Reads OpenAssistant message trees, Anthropic hh-rlhf transcripts ('chosen'), self-instruct /
    Alpaca instruction-input-output records and {"messages": [...]} conversations, as JSON lines,
    parquet or datasets folders. Writes OUT/train_*.jsonl.zst and OUT/val_*.jsonl.zst, one
    {"id", "group", "source", "messages"} per line, plus config.toml and manifest.json.
    Conversations that do not alternate user/assistant, end without an assistant turn or have
    an empty assistant turn are skipped and counted, as are duplicates.

    Examples:

      gptkit data chat ../shared/data/rlhf/openassistant/en_100_tree.jsonl --out runs/c/chat --oasst-branch all

      gptkit data chat oasst.jsonl hh/*.jsonl.gz seed_tasks.jsonl -o chat --set chat_data.val_fraction=0.1
    """
    from gptkit.chat.data import ChatDataConfig, chat_data
    from gptkit.config import resolve

    options = {"inputs": [str(p) for p in inputs] if inputs else None, "out": out_dir,
               "oasst_branch": oasst_branch, "val_fraction": val_fraction}  # fmt: skip
    cfg = resolve(ChatDataConfig, "chat_data", recipe=recipe, options=options, overrides=overrides or [])
    summary = chat_data(cfg, RichReporter())
    print_split_summary(summary, summary.conversations, "conversations")


def print_split_summary(summary, counts: dict[str, int], unit: str) -> None:
    """What a split-shard stage (``data chat``, ``data prefs``) made: per split, per source, skipped."""
    if summary.reused:
        already_complete(summary.out, same="inputs and settings")
    for issue in summary.issues[:5]:
        err.print(f"[yellow]skipped:[/] {issue}", markup=True, highlight=False)
    sources = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.sources.items()))
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.skipped.items())) or "none"
    out.print(f"train {counts['train']:,} {unit}, val {counts['val']:,}  ({sources})  |  skipped: {skipped}  "
              f"→ {summary.out}")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add ``sft`` and ``chat`` to the root app."""
    app.command(name="sft")(sft)
    app.command(name="chat")(chat)


def sft(
    model: Annotated[Path, typer.Argument(help="Model to tune: gptkit run or model dir, or an HF GPT-2 dir.")],
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Conversation shards from 'gptkit data chat'.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (checkpoints, metrics).")] = None,
    template: Annotated[str | None, typer.Option("--template", help="Chat template: chatml (default) or hh.")] = None,
    loss_on: Annotated[
        str | None, typer.Option("--loss-on", help="Tokens learnt: 'assistant' (default) or 'all'.")
    ] = None,
    batching: Annotated[
        str | None, typer.Option("--batching", help="'padded' (one conversation per row, default) or 'packed'.")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Fine-tune a model on conversations (InstructGPT step 1); rerun the same command to resume.

    Adds the chat template's special tokens to MODEL (RUN/base/), then trains with the same loop
    as 'gptkit train': every key of its 'train' table applies (--set train.epochs=16 for more epochs);
    the 'sft' table holds model, data, template, loss_on and batching. val_loss is the loss on
    the assistant tokens of the held-out conversations. Every checkpoint carries the tokenizer
    with its chat template, for 'gptkit chat RUN' and 'gptkit export'.

    Examples:

      gptkit sft runs/q/train --data runs/c/chat --out runs/c/sft --recipe recipes/sft/instructgpt.toml

      gptkit sft ../shared/data/models/gpt2 -d chat -o sft --loss-on all --set train.epochs=2
    """
    from gptkit.chat.sft import SFTConfig
    from gptkit.chat.sft import sft as run_sft
    from gptkit.config import resolve
    from gptkit.train.config import TrainConfig

    sets = overrides or []
    cfg = resolve(SFTConfig, "sft", recipe=recipe, overrides=[s for s in sets if s.startswith("sft.")],
                  options={"model": model, "data": data, "template": template, "loss_on": loss_on,
                           "batching": batching})  # fmt: skip
    train_cfg = resolve(TrainConfig, "train", recipe=recipe, options={"out": out_dir},
                        overrides=[s for s in sets if not s.startswith("sft.")])  # fmt: skip
    summary = run_sft(cfg, train_cfg, RichReporter())
    val = "n/a" if summary.final_val_loss is None else f"{summary.final_val_loss:.4f}"
    state = "done" if summary.step >= summary.steps else f"paused at step {summary.step} (rerun to resume)"
    out.print(f"{state}: step {summary.step}/{summary.steps}  val assistant loss {val}  "
              f"{summary.tokens_per_s:,.0f} tok/s  → {summary.run_dir}")  # fmt: skip


def chat(
    run: Annotated[Path, typer.Argument(help="A 'gptkit sft' run or model directory (its chat template is used).")],
    system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="0 = greedy.")] = 0.7,
    top_k: Annotated[int | None, typer.Option("--top-k", min=1, help="Sample from the k most likely tokens.")] = 50,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Longest reply, in tokens.")] = 256,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the sampling (each reply reuses it).")] = None,
    best: Annotated[bool, typer.Option("--best", help="Use the run's best-validation checkpoint, not the latest.")] = False,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = None,
) -> None:
    """Talk with a tuned model: a multi-turn REPL that streams its replies.

    The conversation is rendered with the template the model was tuned with; when it outgrows
    the model's context the oldest exchanges are left out (the system prompt stays). Commands:
    /system TEXT, /clear, /set temperature=0.7 top_k=50 max_tokens=256, /save FILE, /help, /exit.
    When stdin is not a terminal each line is answered in turn, one reply per output line.

    Examples:

      gptkit chat runs/c/sft

      gptkit chat runs/c/sft --system "Answer in one sentence." -t 0 < questions.txt > answers.txt
    """
    import sys

    from gptkit.chat.repl import run_repl, terminal_lines
    from gptkit.chat.session import ChatSession, ChatSettings
    from gptkit.chat.template import template_of
    from gptkit.model.store import load_model
    from gptkit.runtime import resolve_device

    model, tok = load_model(run, device=resolve_device(device), which="best" if best else "latest")
    settings = ChatSettings(temperature=temperature, top_k=top_k, max_tokens=max_tokens, seed=seed)
    session = ChatSession(model, tok, template_of(tok, run), settings, system)
    interactive = sys.stdin.isatty()

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    if interactive:
        err.print(f"chatting with {run} ({session.template.name} template, context {model.config.block_size}); "
                  "/help for commands, /exit or Ctrl-D to leave")  # fmt: skip
    run_repl(session, terminal_lines() if interactive else sys.stdin, write,
             lambda text: err.print(text, markup=False, highlight=False))  # fmt: skip
