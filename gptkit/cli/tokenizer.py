"""``gptkit tokenizer …``: train, encode, decode, info."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.app import App
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, already_complete, err, out

app = App(no_args_is_help=True,
          help="Byte-level BPE: train, encode, decode, info.")


def register(root: typer.Typer) -> None:
    """Add ``tokenizer`` to ``root``."""
    root.add_typer(app, name="tokenizer")


TokDirArg = Annotated[
    Path, typer.Argument(help="Tokenizer: a 'gptkit tokenizer train' output, an HF dir with tokenizer.json, "
                              "or OpenAI's GPT-2 files (encoder.json + vocab.bpe).")
]  # fmt: skip


@app.command()
def train(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Document shards (.jsonl.zst), JSONL or text files, directories of them, or glob patterns."),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory for the tokenizer.")] = None,
    merges: Annotated[
        int | None, typer.Option("--merges", "-m", min=1, help="Merges to learn (default 40,000): vocab = 256 + merges + specials.")
    ] = None,
    min_frequency: Annotated[
        int | None, typer.Option("--min-frequency", min=0, help="Never merge a pair seen fewer times (default 2).")
    ] = None,
    special: Annotated[
        list[str] | None,
        typer.Option("--special-token", help="Extra special token, after <|endoftext|> (repeatable)."),
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Training threads (default: all cores).")] = None,
    held_out: Annotated[
        float | None, typer.Option("--held-out", min=0.0, max=0.49, help="Fraction of documents kept out to measure bytes/token (default 0.01).")
    ] = None,
    text_key: Annotated[str | None, typer.Option("--text-key", help="JSON field holding the text (default 'text').")] = None,
    force: Annotated[bool, typer.Option("--force", help="Train again even if OUT already holds this result.")] = False,
    recipe: RecipeOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Train a GPT-2-style byte-level BPE tokenizer (HF tokenizers) on a corpus.

    Streams the documents (bounded memory, any corpus size) into HF's trainer with GPT-2's
    pre-tokenisation: no merge crosses a pre-token, each document is one sequence.
    Writes OUT/tokenizer.json (tokenizers, transformers), vocab.json + merges.txt (GPT-2
    format), tokenizer_config.json, config.toml and manifest.json. Prints the merges learned
    (a small corpus may support fewer than asked) and bytes per token on held-out documents.

    Examples:

      gptkit tokenizer train runs/w/clean --out runs/w/tok

      gptkit tokenizer train 'shards/*.jsonl.zst' book.txt -o tok --merges 50000 --threads 8

      gptkit tokenizer train corpus.jsonl -o tok -m 4000 --special-token '<|pad|>' --set tokenizer.min_frequency=5
    """
    from gptkit.config import resolve
    from gptkit.tokenizer.train import TrainTokenizerConfig, train_tokenizer

    options = {
        "inputs": [str(p) for p in inputs] if inputs else None, "out": out_dir, "merges": merges,
        "min_frequency": min_frequency, "threads": threads, "held_out": held_out, "text_key": text_key,
        "specials": ["<|endoftext|>", *special] if special else None,
    }  # fmt: skip
    cfg = resolve(TrainTokenizerConfig, "tokenizer", recipe=recipe, options=options, overrides=overrides or [])
    s = train_tokenizer(cfg, RichReporter(), force=force)
    if s.reused:
        already_complete(s.out, redo="--force to train again")
    for note in s.notes:
        err.print(f"[yellow]note:[/] {note}", markup=True, highlight=False)
    bpt = f"{s.bytes_per_token:.3f} bytes/token on {s.held_out_documents:,} held-out docs" if s.bytes_per_token else "bytes/token not measured"
    out.print(
        f"{s.merges:,} merges (asked {s.merges_requested:,}), vocab {s.vocab_size:,}  |  {s.documents:,} docs, "
        f"{s.text_bytes / 1e6:,.1f} MB  |  {bpt}  |  {s.train_seconds:.1f} s  → {s.out}"
    )


@app.command()
def encode(
    tokenizer: TokDirArg,
    text: Annotated[str | None, typer.Argument(help="Text to encode (default: read stdin).")] = None,
    special: Annotated[
        bool, typer.Option("--special/--no-special", help="Turn <|endoftext|> etc. in the text into special ids.")
    ] = False,
    count: Annotated[bool, typer.Option("--count", help="Print only the number of tokens.")] = False,
) -> None:
    """Print the token ids of a text (argument or stdin), space-separated on one line.

    By default special strings such as <|endoftext|> are ordinary text; --special turns them
    into their special ids (as HF's tokenizer.json does).

    Examples:

      gptkit tokenizer encode runs/w/tok "Hello world!"

      cat book.txt | gptkit tokenizer encode ../shared/data/tokenizers/gpt2 --count

      gptkit tokenizer encode tok "doc one<|endoftext|>doc two" --special
    """
    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer)
    data = sys.stdin.read() if text is None else text
    ids = tok.encode(data, allowed_special="all" if special else frozenset())
    out.print(str(len(ids)) if count else " ".join(map(str, ids)), markup=False, highlight=False)


@app.command()
def decode(
    tokenizer: TokDirArg,
    ids: Annotated[list[str] | None, typer.Argument(help="Token ids (default: read stdin); spaces, commas or brackets between them.")] = None,
) -> None:
    """Print the text of token ids (arguments or stdin), e.g. the output of 'encode'.

    Examples:

      gptkit tokenizer decode runs/w/tok 15496 995 0

      gptkit tokenizer encode tok "Hello" | gptkit tokenizer decode tok

      echo "[15496, 995]" | gptkit tokenizer decode ../shared/data/tokenizers/gpt2
    """
    from gptkit.errors import UsageError
    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer)
    raw = " ".join(ids) if ids else sys.stdin.read()
    words = raw.replace(",", " ").replace("[", " ").replace("]", " ").split()
    try:
        values = [int(w) for w in words]
    except ValueError as e:
        raise UsageError(f"ids must be integers: {e}") from None
    bad = [i for i in values if not 0 <= i < tok.vocab_size]
    if bad:
        raise UsageError(f"id {bad[0]} is outside the vocabulary (0..{tok.vocab_size - 1})")
    sys.stdout.write(tok.decode(values))
    if sys.stdout.isatty():
        sys.stdout.write("\n")


@app.command(name="info")
def info_cmd(
    tokenizer: TokDirArg,
    text: Annotated[str | None, typer.Option("--text", help="Show how this string splits into tokens.")] = None,
    sample: Annotated[int, typer.Option("--samples", "-n", min=0, help="How many tokens to show from the vocabulary.")] = 12,
) -> None:
    """Show a tokenizer's vocabulary size, merges, specials, hash and a sample of tokens.

    Examples:

      gptkit tokenizer info runs/w/tok

      gptkit tokenizer info ../shared/data/tokenizers/gpt2 --text "Hello world, it's 2024!"
    """
    from rich.table import Table

    from gptkit.tokenizer import load_tokenizer

    tok = load_tokenizer(tokenizer)
    out.print(f"[bold]{tokenizer}[/]", markup=True)
    out.print(f"vocab size  {tok.vocab_size:,}   merges {len(tok.merges):,}   eot_id {tok.eot_id}   engine {tok.engine}")
    out.print(f"specials    {', '.join(f'{s}={i}' for s, i in tok.specials.items())}", markup=False)
    out.print(f"hash        {tok.hash}")
    if sample:
        ids = sorted(tok.ranks.values())
        step = max(1, len(ids) // sample)
        picked = [*ids[256::step][: sample - 1], ids[-1]] if len(ids) > 256 else ids[:sample]
        table = Table("id", "token", title=f"sample of the vocabulary (learned tokens, every {step:,}th)")
        for i in picked:
            table.add_row(str(i), repr(tok.token_bytes(i).decode("utf-8", errors="replace")))
        out.print(table)
    if text is not None:
        ids = tok.encode(text, allowed_special="all")
        table = Table("id", "token", title=f"{text!r} → {len(ids)} tokens")
        for i in ids:
            table.add_row(str(i), repr(tok.token_bytes(i).decode("utf-8", errors="replace")))
        out.print(table)
