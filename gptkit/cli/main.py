"""``gptkit``: the root command, global options and error handling."""

from __future__ import annotations

import sys
import traceback
from typing import Annotated

import typer
from rich.markup import escape

from gptkit import __version__
from gptkit.cli.app import App, LazyGroup, Sub
from gptkit.cli.ui import err, state
from gptkit.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, DryRun, GptkitError


class _Commands(LazyGroup):
    subcommands = {
        "train": Sub(
            "gptkit.cli.train:register",
            "Train a GPT on token shards; rerun the same command to resume exactly where it stopped.",
        ),
        "sft": Sub(
            "gptkit.cli.chat:register",
            "Fine-tune a model on conversations (InstructGPT step 1); rerun the same command to resume.",
        ),
        "chat": Sub(
            "gptkit.cli.chat:register",
            "Talk with a tuned model: a multi-turn REPL that streams its replies.",
        ),
        "ppo": Sub(
            "gptkit.cli.rlhf:register",
            "Fine-tune the SFT policy with PPO against a reward model (InstructGPT step 3); rerun to resume.",
        ),
        "generate": Sub(
            "gptkit.cli.model:register",
            "Sample text from a model, streaming tokens to the terminal as they come.",
        ),
        "export": Sub(
            "gptkit.cli.model:register",
            "Export a model as a transformers model directory (safetensors + config.json + tokenizer).",
        ),
        "import": Sub(
            "gptkit.cli.model:register",
            "Convert a transformers GPT-2/GPT-1 directory into a gptkit model directory.",
        ),
        "eval": Sub(
            "gptkit.cli.eval:register",
            "Evaluate a model on LAMBADA and CoQA (0-, 1- or few-shot) through lm-evaluation-harness.",
        ),
        "quickstart": Sub(
            "gptkit.cli.pipeline:register",
            "Raw web pages → evaluated GPT on the bundled sample: 8 min 42 s on 2 idle cores (measured).",
        ),
        "run": Sub(
            "gptkit.cli.pipeline:register",
            "Run the stages a recipe lists, in order, each skipped when its output is already complete.",
        ),
        "verify": Sub(
            "gptkit.cli.verify:register",
            "Check that every file a manifest lists is present, of the right size and hash.",
        ),
        "data": Sub(
            "gptkit.cli.data:register",
            "Web corpora: URLs, crawl, extract, clean, overlap, pack, inspect.",
        ),
        "tokenizer": Sub("gptkit.cli.tokenizer:register", "Byte-level BPE: train, encode, decode, info."),
        "scale": Sub(
            "gptkit.cli.scale:register",
            "Scaling laws: sweep small runs, fit L(C), predict and check a bigger run.",
        ),
        "finetune": Sub(
            "gptkit.cli.finetune:register",
            "GPT-1 fine-tuning: gptkit finetune MODEL --task T --data DIR --out RUN; then predict.",
        ),
        "rm": Sub("gptkit.cli.rlhf:register", "Reward models: train on ranked comparisons, evaluate, score."),
        "bench": Sub("gptkit.cli.model:register", "Measure this machine: matmul peak for MFU."),
        "exec": Sub(
            "gptkit.cli.exec:register",
            "Entry points of cluster jobs (written by --executor slurm).",
            hidden=True,
        ),
    }


app = App(
    cls=_Commands,
    name="gptkit",
    help="From raw web pages to an evaluated GPT: crawl, extract, clean, tokenize, pack, train, eval.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gptkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More output; full tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results; no progress bars.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """gptkit: the GPT-1/GPT-2/GPT-3 pipeline as one toolkit.

    Typical flow: data urls → data crawl → data extract → data clean → tokenizer train →
    data pack → train → eval. Or run it all at once: [bold]gptkit quickstart[/].
    """
    state.verbose = verbose
    state.quiet = quiet and not verbose


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and map errors to one line on stderr and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rv = app(args=args, prog_name="gptkit", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
        if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into a return value of 130
            err.print("[red]interrupted[/]: rerun the same command to resume")
    except typer.Exit as e:
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("[red]interrupted[/]: rerun the same command to resume")
        code = EXIT_INTERRUPTED
    except typer.TyperException as e:  # Typer's (vendored click's) usage errors
        ctx = getattr(e, "ctx", None)
        if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:  # group without subcommand
            typer.echo(ctx.get_help())
            code = 0
        else:
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            err.print(f"[red]error:[/] {escape(e.format_message())}{hint}")
            code = getattr(e, "exit_code", EXIT_USAGE)
    except DryRun as e:
        typer.echo(e.text)
        err.print(str(e), markup=False)
        code = e.exit_code
    except GptkitError as e:
        if state.verbose:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"[red]error:[/] {escape(str(e))}")
        code = e.exit_code
    except Exception as e:  # a bug: keep the one-line promise, traceback behind --verbose
        if state.verbose:
            err.print(traceback.format_exc(), markup=False)
        err.print(f"[red]internal error:[/] {type(e).__name__}: {escape(str(e))} (rerun with --verbose for the traceback)")
        code = EXIT_FAILURE
    sys.exit(code)
