"""Input kinds for extraction and the pages they hold.

- ``warc``: WARC/WARC.gz (``response`` and ``resource`` records with HTML) and WET files
  (``conversion`` records: text already extracted, kept as is);
- ``html``: ``.html`` / ``.htm`` files, optionally gzipped, one page each;
- ``jsonl``: JSON lines (optionally compressed) whose ``html`` field holds a page, with
  optional ``url`` and ``id``.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gptkit.data.extract.extractors import looks_binary
from gptkit.errors import InputError
from gptkit.io.shards import Issue, expand_inputs, is_jsonl, iter_jsonl
from gptkit.io.warc import HTML_CONTENT_TYPES, WARC_SUFFIXES, iter_warc

HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".html.gz", ".htm.gz")
JSONL_INPUT_SUFFIXES = tuple(f"{s}{c}" for s in (".jsonl", ".json", ".ndjson") for c in ("", ".gz", ".zst", ".xz", ".bz2"))


@dataclass
class Page:
    id: str
    source: str
    data: bytes | str  # HTML bytes, HTML str (from JSON) or, when ``is_text``, extracted text
    url: str | None = None
    record_id: str | None = None
    fetch_time: str | None = None
    content_type: str | None = None
    is_text: bool = False


def kind_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(WARC_SUFFIXES):
        return "warc"
    if name.endswith(HTML_SUFFIXES):
        return "html"
    if is_jsonl(path):
        return "jsonl"
    raise InputError("not an extract input (expected .warc[.gz], .wet[.gz], .html[.gz] or .jsonl with an 'html' field)", path)


def find_inputs(items: list[Path]) -> list[Path]:
    """Input files named by ``items``; a crawl output directory stands for its WARC files."""
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and (p / "fetch_log.jsonl").is_file() and (p / "warc").is_dir():
            files.extend(expand_inputs([p / "warc"], (".warc.gz",)))
        elif p.is_dir():
            files.extend(expand_inputs([p], WARC_SUFFIXES + HTML_SUFFIXES + JSONL_INPUT_SUFFIXES))
        else:
            files.extend(expand_inputs([p]))
    for f in files:
        kind_of(f)
    return files


def iter_pages(kind: str, files: list[str], on_issue: Callable[[Issue], None], html_field: str,
               max_bytes: int, skipped: Callable[[str], None]) -> Iterator[Page]:  # fmt: skip
    """Pages of the files of one task; records that are no HTML page are counted via ``skipped``."""
    for name in files:
        path = Path(name)
        if kind == "warc":
            yield from _warc_pages(path, on_issue, max_bytes, skipped)
        elif kind == "html":
            yield from _html_page(path, on_issue)
        else:
            yield from _jsonl_pages(path, on_issue, html_field, skipped)


def _warc_pages(path: Path, on_issue, max_bytes: int, skipped) -> Iterator[Page]:
    for rec in iter_warc(path, on_issue, max_payload=max_bytes):
        page_id = rec.record_id or f"{path.name}@{rec.offset}"
        common = dict(id=page_id, source=path.name, url=rec.url, record_id=rec.record_id, fetch_time=rec.date)
        if rec.type == "conversion":
            yield Page(data=rec.payload, content_type=rec.content_type, is_text=True, **common)
            continue
        if rec.status is not None and not 200 <= rec.status < 300:
            skipped("HTTP status not 2xx")
            continue
        mime = (rec.content_type or "").split(";")[0].strip().lower()
        if mime and mime not in HTML_CONTENT_TYPES:
            skipped("not HTML")
            continue
        if looks_binary(rec.payload):
            skipped("binary content")
            continue
        yield Page(data=rec.payload, content_type=rec.content_type, **common)


def _html_page(path: Path, on_issue) -> Iterator[Page]:
    try:
        data = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as e:
        on_issue(Issue(str(path), None, f"corrupt or truncated data: {type(e).__name__}: {e}"))
        return
    if looks_binary(data):
        on_issue(Issue(str(path), None, "binary content, not an HTML page"))
        return
    stem = path.name.split(".")[0]
    yield Page(id=stem, source=path.name, data=data)


def _jsonl_pages(path: Path, on_issue, html_field: str, skipped) -> Iterator[Page]:
    for line_no, obj in iter_jsonl(path, on_issue):
        html = obj.get(html_field)
        if not isinstance(html, str):
            on_issue(Issue(str(path), line_no, f"no '{html_field}' string"))
            continue
        url = obj.get("url") if isinstance(obj.get("url"), str) else None
        doc_id = str(obj["id"]) if obj.get("id") is not None else f"{path.name}/{line_no}"
        yield Page(id=doc_id, source=path.name, data=html, url=url)
