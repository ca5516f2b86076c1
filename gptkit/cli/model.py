"""``gptkit generate``, ``gptkit export``, ``gptkit import`` and ``gptkit bench peak``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App
from gptkit.cli.ui import RecipeOpt, SetOpt, WhichOpt, already_complete, err, info, out, state
from gptkit.errors import UsageError

ModelArg = Annotated[
    Path,
    typer.Argument(
        help="A model dir, a checkpoint dir, a training run dir (its latest checkpoint) or a transformers GPT-2 dir."
    ),
]


class ExportFormat(StrEnum):
    hf = "hf"


class PeakDtype(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="generate")(generate)
    app.command(name="export")(export)
    app.command(name="import")(import_)
    bench = App(help="Measure this machine: matmul peak for MFU.", no_args_is_help=True)
    bench.command(name="peak")(peak)
    app.add_typer(bench, name="bench", help="Measure this machine: matmul peak for MFU.")


def generate(
    model_path: ModelArg,
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", help="Text to continue; empty: sample from <|endoftext|>.")
    ] = "",
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=0, help="Tokens to sample per sample. (default: 100)"),
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", min=0.0, help="Softmax temperature; 0 = greedy. (default: 1.0)"),
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", min=1, help="Sample among the k most likely tokens only.")
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option(
            "--top-p",
            min=0.0,
            max=1.0,
            help="Nucleus sampling: smallest set of tokens with probability >= p.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (same seed, same text).")] = None,
    samples: Annotated[int, typer.Option("--samples", "-n", min=1, help="Number of samples to draw.")] = 1,
    device: Annotated[
        str | None,
        typer.Option("--device", help="cpu, cuda, cuda:1 … (default: cuda if available, else cpu)"),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for torch.")] = None,
    which: WhichOpt = "latest",
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Sample text from a model, streaming tokens to the terminal as they come.

    Uses the KV cache; stops at <|endoftext|> or after --max-tokens. Options may also come
    from a recipe's \\[generate] table (max_tokens, temperature, top_k, top_p, seed).

    Examples:

      gptkit generate runs/w/train --prompt "The meaning of life is" --max-tokens 50

      gptkit generate runs/w/model -p "Once upon a time" --temperature 0.8 --top-k 200 --seed 1 --samples 3

      gptkit generate runs/w/train --which best --temperature 0
    """
    from gptkit.config import resolve
    from gptkit.model.generate import SamplingConfig, generate_text

    config = resolve(
        SamplingConfig,
        "generate",
        recipe,
        {"max_tokens": max_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed},
        overrides or [],
    )
    model, tok = _load(model_path, which, device, threads)
    if tok is None:
        from gptkit.errors import InputError

        raise InputError("the model has no tokenizer/ directory: cannot encode the prompt", model_path)
    for i in range(samples):
        if samples > 1:
            err.rule(f"sample {i + 1}/{samples}", style="dim")
        sample_config = config if config.seed is None else _with_seed(config, config.seed + i)
        if not state.quiet:
            sys.stdout.write(prompt)
        for piece in generate_text(model, tok, prompt, sample_config):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()


def export(
    model_path: ModelArg,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Directory to write.")] = None,
    fmt: Annotated[
        ExportFormat | None,
        typer.Option("--format", "-f", help="Target format: hf (a transformers model directory). \\[default: hf]"),
    ] = None,
    which: WhichOpt = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Export a model as a transformers model directory (safetensors + config.json + tokenizer).

    GPT-2 models load with GPT2LMHeadModel.from_pretrained, GPT-1 models with
    OpenAIGPTLMHeadModel; AutoTokenizer.from_pretrained loads the tokenizer. Works offline.
    A recipe's \\[export] table may hold out, format and which.

    Examples:

      gptkit export runs/w/train --format hf --out runs/w/hf

      gptkit export runs/w/train --which best --out runs/w/hf-best

      gptkit export runs/w/train --out runs/w/hf --set export.which=best
    """
    from gptkit.config import resolve
    from gptkit.model.convert import ExportConfig, export_model

    options = {"out": out_dir, "format": fmt.value if fmt else None, "which": which}
    config = resolve(ExportConfig, "export", recipe, options, overrides or [])
    if config.out is None:
        raise UsageError("no output directory: give --out DIR (or out in the recipe's [export] table)")
    result = export_model(model_path, config.out, config.format, config.which)
    if result.reused:
        already_complete(config.out)
        return
    if result.tokenizer is None:
        err.print("[yellow]warning:[/] the model has no tokenizer: AutoTokenizer will not load the export")
    model = result.model
    out.print(
        f"exported {model.config.arch} model ({model.num_params(non_embedding=False):,} parameters) to {config.out}"
    )


def import_(
    hf_dir: Annotated[Path, typer.Argument(help="A transformers GPT-2 (or GPT-1) model directory.")],
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="gptkit model directory to write.")] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Convert a transformers GPT-2/GPT-1 directory into a gptkit model directory.

    Reads config.json and model.safetensors (or pytorch_model.bin, weights only) and the
    tokenizer files; the result can be generated from, evaluated or fine-tuned. A recipe's
    \\[import] table may hold out.

    Examples:

      gptkit import ~/models/gpt2 --out runs/gpt2

      gptkit import runs/w/hf --out runs/w/model-again

      gptkit import ~/models/gpt2 --set import.out=runs/gpt2
    """
    from gptkit.config import resolve
    from gptkit.model.convert import ImportConfig, import_model

    config = resolve(ImportConfig, "import", recipe, {"out": out_dir}, overrides or [])
    if config.out is None:
        raise UsageError("no output directory: give --out DIR (or out in the recipe's [import] table)")
    result = import_model(hf_dir, config.out)
    if result.reused:
        already_complete(config.out)
        return
    if result.note:
        err.print(f"[yellow]note:[/] {result.note}")
    if result.tokenizer is None:
        err.print("[yellow]warning:[/] no tokenizer files in the transformers directory; the model has none")
    model = result.model
    out.print(
        f"imported {model.config.arch} model ({model.num_params(non_embedding=False):,} parameters) to {config.out}"
    )


def peak(
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads. (default: torch's default)")
    ] = None,
    dtypes: Annotated[
        list[PeakDtype] | None,
        typer.Option("--dtype", help="Matmul dtype (repeatable). (default: fp32 and bf16)"),
    ] = None,
    size: Annotated[
        int, typer.Option("--size", min=64, help="Side of the square matrices multiplied.")
    ] = 2048,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Measure again even if a cached figure exists.")
    ] = False,
) -> None:
    """Measure the CPU's matmul peak (FLOP/s) that MFU is computed against, and cache it.

    Multiplies two SIZE x SIZE matrices on the given threads and keeps the best of a few runs;
    the figure is cached per CPU model, thread count, dtype and torch version in
    ~/.cache/gptkit/peak.json (or $XDG_CACHE_HOME/gptkit), where training reads it. When a
    GPU is present, its data-sheet peak is listed too.

    Examples:

      gptkit bench peak

      gptkit bench peak --threads 2 --dtype fp32 --refresh
    """
    import torch
    from rich.table import Table

    from gptkit.model.flops import cache_path, cpu_name, cpu_peak, gpu_peak

    threads = threads or torch.get_num_threads()
    chosen = dtypes or [PeakDtype.fp32, PeakDtype.bf16]
    table = Table("device", "dtype", "threads", "peak GFLOP/s", "source")
    for dt in chosen:
        torch_dtype = torch.float32 if dt is PeakDtype.fp32 else torch.bfloat16
        flops = cpu_peak(torch_dtype, threads, refresh=refresh, size=size)
        table.add_row(cpu_name(), dt.value, str(threads), f"{flops / 1e9:,.1f}", f"measured ({size}³ matmul)")
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name()
            gpu = gpu_peak(name, torch_dtype)
            table.add_row(
                name, dt.value, "", f"{gpu.flops / 1e9:,.0f}" if gpu else "unknown", gpu.source if gpu else ""
            )
    out.print(table)
    info(f"cached in {cache_path()}")


def _load(path: Path, which: str, device: str | None, threads: int | None):
    import torch

    from gptkit.model.store import load_model
    from gptkit.runtime import resolve_device

    _check_which(which)
    if threads:
        torch.set_num_threads(threads)
    return load_model(path, device=resolve_device(device), which=which)  # type: ignore[arg-type]


def _check_which(which: str) -> None:
    if which not in ("latest", "best"):
        raise UsageError(f"--which must be 'latest' or 'best', got {which!r}")


def _with_seed(config, seed: int):
    import dataclasses

    return dataclasses.replace(config, seed=seed)
