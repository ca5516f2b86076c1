"""``gptkit data …``: the corpus stages (urls, crawl, extract, clean, overlap, pack, inspect, chat, prefs)."""

from __future__ import annotations

import typer

from gptkit.cli.app import App, LazyGroup, Sub


class _DataCommands(LazyGroup):
    subcommands = {
        "urls": Sub(
            "gptkit.cli.data_web:register",
            "Collect canonical, deduplicated URLs from URL lists and Reddit dumps.",
        ),
        "crawl": Sub(
            "gptkit.cli.data_web:register",
            "Fetch URLs politely into gzipped WARC files, with a JSONL fetch log.",
        ),
        "extract": Sub(
            "gptkit.cli.data_web:register",
            "Extract the main text of web pages into document shards.",
        ),
        "clean": Sub(
            "gptkit.cli.data_clean:register",
            "Filter, deduplicate and decontaminate documents the way FineWeb does, corpus-wide.",
        ),
        "overlap": Sub(
            "gptkit.cli.data_clean:register",
            "Report GPT-2-style n-gram overlap between a corpus and an eval set.",
        ),
        "pack": Sub(
            "gptkit.cli.data_pack:register",
            "Encode documents into token shards that 'gptkit train' reads.",
        ),
        "inspect": Sub(
            "gptkit.cli.data_pack:register",
            "Show the counts of a token directory, decode a sample, and verify it.",
        ),
        "chat": Sub(
            "gptkit.cli.chat:register_data",
            "Turn demonstrations into conversation shards that 'gptkit sft' reads.",
        ),
        "prefs": Sub(
            "gptkit.cli.rlhf:register_data",
            "Turn human preferences into comparison shards that 'gptkit rm train' reads.",
        ),
    }


app = App(cls=_DataCommands, no_args_is_help=True,
          help="Web corpora: URLs, crawl, extract, clean, overlap, pack, inspect.")  # fmt: skip


def register(root: typer.Typer) -> None:
    """Add ``data`` to ``root``."""
    root.add_typer(app, name="data")
