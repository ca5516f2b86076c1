"""A local web site made of the bundled sample documents, for the quickstart's real crawl.

The documents (real Common Crawl pages and Wikipedia articles under CC BY-SA, sections of
public-domain novels) are rendered as plain HTML pages with
navigation and footer boilerplate around the article, written to a directory with a
``robots.txt``, and served by a threaded HTTP server on 127.0.0.1. The crawler then fetches
them over real HTTP and the extractor has real boilerplate to remove.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_text
from gptkit.io.shards import iter_documents

SAMPLES = resources.files("gptkit") / "samples"
#: Documents that become the sample site's pages: real web pages, Wikipedia articles, then sections of
#: public-domain novels (the fiction LAMBADA is made of; gptkit/samples/LICENSES.md).
SAMPLE_DOCUMENTS = ("cc-by-sa-web-documents.jsonl.gz", "wikipedia-articles.jsonl.gz", "gutenberg-novels.jsonl.gz")

ROBOTS = "User-agent: *\nDisallow: /private/\nCrawl-delay: 0\n"


def sample_path(name: str) -> Path:
    """Path of a bundled sample file (see gptkit/samples/LICENSES.md)."""
    return Path(str(SAMPLES / name))


def render_page(title: str, text: str, index: int, total: int) -> str:
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    nav = " | ".join(f'<a href="/pages/{i:05d}.html">page {i}</a>' for i in (index - 1, index + 1) if 0 <= i < total)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f'<header><nav><a href="/">Home</a> | {nav} | <a href="/about.html">About</a></nav></header>\n'
        f"<main><article><h1>{html.escape(title)}</h1>\n{paragraphs}\n</article></main>\n"
        "<footer><p>Sample site served by gptkit quickstart. Page texts: CC BY-SA or public domain."
        "</p></footer>\n</body></html>\n"
    )


def build_site(out_dir: Path, limit: int | None = None) -> list[str]:
    """Write the sample documents as HTML pages under ``out_dir``; return their URL paths."""
    docs = [doc for name in SAMPLE_DOCUMENTS for doc in iter_documents(sample_path(name))]
    if limit is not None:
        docs = docs[:limit]
    paths = []
    for i, doc in enumerate(docs):
        title = doc["text"].strip().split("\n", 1)[0][:120] or f"Document {i}"
        rel = f"pages/{i:05d}.html"
        atomic_write_text(out_dir / rel, render_page(title, doc["text"], i, len(docs)))
        paths.append("/" + rel)
    atomic_write_text(out_dir / "robots.txt", ROBOTS)
    atomic_write_text(out_dir / "private" / "secret.html", "<html><body>not for crawlers</body></html>")
    return paths


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1:``port`` (0: a free one) during the block; yield the base URL."""
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(directory)))
    except OSError as e:
        raise UsageError(f"cannot serve the sample site on 127.0.0.1:{port}: {e.strerror} (set site.port)") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
