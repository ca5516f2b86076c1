"""``gptkit data pack`` and ``gptkit data inspect``: token shards for training, and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.executor_opts import resolve_executor, with_executor_options
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, WorkersOpt, already_complete, err, out


def register(app: typer.Typer) -> None:
    """Add ``pack`` and ``inspect`` to the ``data`` app."""
    app.command(name="pack")(pack)
    app.command(name="inspect")(inspect)


@with_executor_options
def pack(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="Document shards (.jsonl[.zst|.gz…], .txt), directories of them, or glob patterns; s3://, gs://, hf:// URLs too."),
    ] = None,
    tokenizer: Annotated[
        Path | None, typer.Option("--tokenizer", help="Tokenizer dir ('gptkit tokenizer train' output, HF or GPT-2 files).")
    ] = None,
    out_dir: Annotated[str | None, typer.Option("--out", "-o", help="Output directory (or s3://, gs:// URL) for the token shards.")] = None,
    workers: WorkersOpt = None,
    shard_tokens: Annotated[
        int | None, typer.Option("--shard-tokens", min=1, help="Tokens per shard (default 100,000,000).")
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option("--val-fraction", min=0.0, max=0.999, help="Fraction of documents held out (default 0.005).")
    ] = None,
    val_docs: Annotated[
        int | None, typer.Option("--val-docs", min=0, help="Exact number of documents held out (instead of a fraction).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the validation draw (default 1337).")] = None,
    text_key: Annotated[str | None, typer.Option("--text-key", help="JSON field holding the text (default 'text').")] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
    executor_options: dict | None = None,
) -> None:
    """Encode documents into token shards that 'gptkit train' reads.

    Appends <|endoftext|> to every document, holds out a validation split by document, and
    writes train_00000.bin, val_00000.bin … (llm.c's format: a 1,024-byte header, then uint16
    or uint32 tokens) with a .idx.npy document index each, OUT/tokenizer/, val_ids.txt,
    config.toml and manifest.json. The shards are identical whatever --workers is. A killed
    pack, rerun, keeps its finished shards and goes on; a rerun with another tokenizer, other
    inputs or other settings into the same --out is refused.

    Examples:

      gptkit data pack runs/w/clean --tokenizer runs/w/tok --out runs/w/tokens

      gptkit data pack 'docs/*.jsonl.zst' --tokenizer ../shared/data/tokenizers/gpt2 -o tokens --val-docs 1000 -w 8

      gptkit data pack corpus.txt --tokenizer tok -o tokens --shard-tokens 10000000 --set pack.seed=7
    """
    from dataclasses import replace

    from gptkit.config import resolve
    from gptkit.io.remote import local_stage
    from gptkit.pack.config import PackConfig
    from gptkit.pack.pack import pack as run_pack

    executor, overrides = resolve_executor(recipe, executor_options or {}, overrides)
    options = {"inputs": inputs or None, "tokenizer": tokenizer, "out": out_dir, "workers": workers,
               "shard_tokens": shard_tokens, "val_fraction": val_fraction, "val_docs": val_docs, "seed": seed,
               "text_key": text_key}  # fmt: skip
    cfg = resolve(PackConfig, "pack", recipe=recipe, options=options, overrides=overrides)
    out_dir = str(cfg.out) if cfg.out is not None else None  # the recipe's, a URL kept as it was written
    with local_stage([str(p) for p in cfg.inputs], out_dir or "") as (local_inputs, local_out):
        local = replace(cfg, inputs=[Path(p) for p in local_inputs], out=local_out if out_dir else None)
        summary = run_pack(local, RichReporter(), executor)
    if summary.reused:
        already_complete(summary.out)
    for issue in summary.issues[:5]:
        err.print(f"[yellow]skipped:[/] {issue}", markup=True, highlight=False)
    t, d, s = summary.tokens, summary.documents, summary.shards
    out.print(
        f"train {t['train']:,} tokens, {d['train']:,} docs, {s['train']} shards  |  "
        f"val {t['val']:,} tokens, {d['val']:,} docs, {s['val']} shards  |  "
        f"{summary.empty_documents:,} empty docs and {summary.skipped_records:,} bad records skipped  "
        f"→ {out_dir or summary.out}"
    )


def inspect(
    directory: Annotated[Path, typer.Argument(help="Token directory written by 'gptkit data pack'.")],
    quick: Annotated[
        bool | None, typer.Option("--quick", help="Headers, sizes and indexes only: no hashes, no id scan.")
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-n", min=0, help="Documents to decode and show. \\[default: 1]")
    ] = None,
    chars: Annotated[
        int | None, typer.Option("--chars", min=1, help="Show at most this many characters per sample. \\[default: 600]")
    ] = None,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Show the counts of a token directory, decode a sample, and verify it.

    Checks every shard's header and size (truncated files are named), its document index,
    and unless --quick that every id is inside the vocabulary, every document ends with
    <|endoftext|>, and every file's hash matches the manifest. Exits with 1 on any problem.

    Examples:

      gptkit data inspect runs/w/tokens

      gptkit data inspect runs/w/tokens --quick --samples 3

      gptkit data inspect runs/w/tokens --set inspect.chars=2000
    """
    from rich.table import Table

    from gptkit.config import resolve
    from gptkit.errors import StageFailure
    from gptkit.pack.inspect import InspectConfig, inspect_tokens

    options = {"quick": quick, "samples": samples, "chars": chars}
    cfg = resolve(InspectConfig, "inspect", recipe, options, overrides or [])
    report = inspect_tokens(directory, full=not cfg.quick, samples=cfg.samples)
    table = Table("split", "shards", "tokens", "documents", "tokens/doc", title=str(directory))
    for split, s in report.splits.items():
        per_doc = f"{s.tokens / s.documents:,.1f}" if s.documents else "-"
        table.add_row(split, str(s.shards), f"{s.tokens:,}", f"{s.documents:,}", per_doc)
    out.print(table)
    m = report.meta
    out.print(f"vocab_size {m['vocab_size']}  eot_id {m['eot_id']}  dtype {m['dtype']}  tokenizer {m['tokenizer_hash']}")
    for i, text in enumerate(report.samples):
        shown = text if len(text) <= cfg.chars else text[:cfg.chars] + f"… [{len(text) - cfg.chars:,} more characters]"
        out.print(f"[bold]sample {i}[/]:", markup=True)
        out.print(shown, markup=False, highlight=False)
    for problem in report.problems:
        err.print(f"[red]FAIL[/] {problem}", markup=True, highlight=False)
    if report.problems:
        raise StageFailure(f"{len(report.problems)} problem(s) in {directory}")
    out.print(f"ok  {report.files_checked} shards checked" + (" (quick)" if cfg.quick else ", hashes match"))
