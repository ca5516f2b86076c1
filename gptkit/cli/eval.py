"""``gptkit eval``: LAMBADA and CoQA (and other lm-eval tasks) through lm-evaluation-harness, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gptkit.cli.ui import RecipeOpt, SetOpt, WhichOpt, err, out


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="eval")(eval_command)


def eval_command(
    model: Annotated[
        Path | None,
        typer.Argument(
            help="A gptkit run, checkpoint or model directory, or a transformers GPT-2 directory."
        ),
    ] = None,
    tasks: Annotated[
        str | None,
        typer.Option(
            "--tasks",
            "-t",
            help="Comma-separated: lambada (= lm-eval's lambada_openai), lambada_standard, coqa, or lm-eval "
            "task names. Default: every gptkit task whose data is present (the others are skipped, "
            "with the reason).",
        ),
    ] = None,
    shots: Annotated[
        str | None, typer.Option("--shots", help="0, 1 or few (K demos: LAMBADA 15, CoQA 5). \\[default: 0]")
    ] = None,
    fewshot_k: Annotated[
        int | None, typer.Option("--fewshot-k", min=1, help="Demos per prompt for --shots few.")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Evaluate only the first N documents of each task."),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", min=1, help="Requests per forward pass. \\[default: 16]")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the demo sampler. \\[default: 1234]")
    ] = None,
    bootstrap_iters: Annotated[
        int | None,
        typer.Option(
            "--bootstrap-iters", min=0, help="Bootstrap resamples for stderrs (0: none). \\[default: 1000]"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Folder with lambada/lambada_test.jsonl and coqa/coqa-dev-v1.0.json."
        ),
    ] = None,
    include_path: Annotated[
        list[Path] | None,
        typer.Option(
            "--include-path",
            help="Folder of lm-eval task YAMLs (as lm-eval's --include_path); repeat for several. "
            "Trusted folders only: a YAML's '!function' runs Python from that folder.",
        ),
    ] = None,
    coqa_turns: Annotated[
        str | None,
        typer.Option(
            "--coqa-turns",
            help="all: every question (GPT-2/3); last: each story's last (lm-eval). \\[default: all]",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output directory. \\[default: MODEL/eval/<shots>shot]")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not reuse or store model answers.")
    ] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda, cuda:1, mps… \\[default: cpu]")
    ] = None,
    which: WhichOpt = None,
    chat_template: Annotated[
        bool | None,
        typer.Option(
            "--chat-template/--no-chat-template",
            help="Render prompts through the model's chat template (a model tuned by 'gptkit sft'), as "
            "lm-eval's --apply_chat_template. \\[default: no]",
        ),
    ] = None,
    system_instruction: Annotated[
        str | None,
        typer.Option("--system-instruction", help="A system message before every prompt (as lm-eval's)."),
    ] = None,
    fewshot_as_multiturn: Annotated[
        bool | None,
        typer.Option(
            "--fewshot-as-multiturn/--fewshot-in-one-turn",
            help="With --chat-template: demos as user/assistant turns, or all in the first user turn. "
            "\\[default: turns]",
        ),
    ] = None,
    reward: Annotated[
        str | None,
        typer.Option("--reward", help="A 'gptkit rm train' run, or regex:PATTERN (count of matches). "
                     "Scores the model's replies to held-out prompts instead of running tasks."),
    ] = None,
    prompts: Annotated[
        Path | None, typer.Option("--prompts", help="'gptkit data prefs' or 'data chat' output (its prompts).")
    ] = None,
    sft: Annotated[
        Path | None, typer.Option("--sft", help="The SFT run: KL reference and the replies to beat.")
    ] = None,
    print_include_path: Annotated[
        bool,
        typer.Option(
            "--print-include-path",
            help="Print the folder of lm-eval task YAMLs over gptkit's bundled data and exit "
            "(for lm_eval --include_path).",
        ),
    ] = False,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Evaluate a model on LAMBADA and CoQA (0-, 1- or few-shot) through lm-evaluation-harness.

    Runs offline from local files: LAMBADA from the bundled copy of OpenAI's test set (or
    DATA_DIR/lambada/), CoQA from DATA_DIR/coqa/coqa-dev-v1.0.json. Writes results.json (lm-eval's
    format), samples_<task>.jsonl and a manifest to the output directory, and prints the metrics
    beside the GPT-2/GPT-3 papers' numbers for the nearest model size. Model answers are cached
    per checkpoint, so a re-run is quick.

    Examples:

      gptkit eval runs/w/train --tasks lambada --shots 0

      gptkit eval runs/w/train --tasks lambada,coqa --shots few --data-dir ~/data --limit 500

      gptkit eval runs/w/hf --tasks coqa --shots 1 --set eval.coqa.train_file=~/data/coqa-train-v1.0.json

      gptkit eval runs/w/train --tasks my_cloze --include-path my_tasks/

      gptkit eval runs/w/sft --tasks lambada --shots few --chat-template --system-instruction "Complete the text."

      gptkit eval runs/r/ppo --reward runs/r/rm --prompts runs/r/prefs --sft runs/c/sft --limit 200

      lm_eval --model hf --model_args pretrained=runs/w/hf --tasks lambada_openai --include_path "$(gptkit eval --print-include-path)"
    """
    if print_include_path:
        from gptkit.eval.lm_eval_tasks import INCLUDE_PATH

        print(INCLUDE_PATH)
        return
    from gptkit.cli.ui import RichReporter, already_complete
    from gptkit.config import resolve
    from gptkit.eval.config import EvalConfig
    from gptkit.eval.runner import evaluate

    options = {
        "model": str(model) if model else None, "tasks": _split(tasks), "shots": shots, "fewshot_k": fewshot_k, "limit": limit,
        "batch_size": batch_size, "seed": seed, "bootstrap_iters": bootstrap_iters,
        "data_dir": str(data_dir) if data_dir else None, "coqa.turns": coqa_turns,
        "include_path": [str(p) for p in include_path] if include_path else None,
        "out": str(out_dir) if out_dir else None, "cache": False if no_cache else None, "device": device,
        "checkpoint": which, "chat_template": chat_template, "system_instruction": system_instruction,
        "fewshot_as_multiturn": fewshot_as_multiturn, "reward.model": reward,
        "reward.prompts": str(prompts) if prompts else None, "reward.sft": str(sft) if sft else None,
    }  # fmt: skip
    config = resolve(EvalConfig, "eval", recipe, options, overrides or [])
    result = evaluate(config, RichReporter())
    if result.reused:
        already_complete(result.out)
    out.print(render_table(result.results))
    err.print(f"results: {config.out_dir() / 'results.json'}")


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]


def render_table(results: dict[str, Any]):
    """A rich table: task, shots, metric, value ± stderr, the papers' numbers (nearest size)."""
    from rich.table import Table

    from gptkit.eval.results import table_rows

    table = Table(title="gptkit eval", title_justify="left")
    for name, justify in (("task", "left"), ("shots", "right"), ("metric", "left"), ("value", "right"),
                          ("± stderr", "right"), ("papers (nearest size)", "left")):  # fmt: skip
        table.add_column(name, justify=justify)
    for row in table_rows(results):
        unit = " %" if row["percent"] else ""
        refs = " · ".join(f"{r['paper']} {r['model']}: {r['value']:g}" for r in row["references"])
        stderr = f"{row['stderr']:.2f}" if row["stderr"] is not None else "—"
        table.add_row(
            row["task"], str(row["shots"]), row["metric"] + unit, f"{row['value']:.2f}", stderr, refs or "—"
        )
    return table
