"""``gptkit data …``: the corpus stages (urls, crawl, extract, clean, overlap, pack, inspect, chat, prefs)."""

from __future__ import annotations

from gptkit.cli import chat, data_clean, data_pack, data_web, rlhf
from gptkit.cli.app import App

app = App(no_args_is_help=True)

data_web.register(app)
data_clean.register(app)
data_pack.register(app)
chat.register_data(app)
rlhf.register_data(app)
