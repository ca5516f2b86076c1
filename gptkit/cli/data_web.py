"""``gptkit data urls | crawl | extract``: from URL sources to WARC files to documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.executor_opts import resolve_executor, with_executor_options
from gptkit.cli.ui import RecipeOpt, RichReporter, SetOpt, WorkersOpt, already_complete, out

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output directory (rerun the command to resume).")]


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command(name="urls")(urls)
    app.command(name="crawl")(crawl)
    app.command(name="extract")(extract)


def _show_counts(title: str, counts: dict, extra: dict | None = None) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    for key, value in counts.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    for key, value in (extra or {}).items():
        table.add_row(f"  {key}", f"{value:,}")
    out.print(table)


def urls(
    inputs: Annotated[list[Path], typer.Argument(help="URL lists (.txt), JSONL with 'url', Pushshift dumps (.zst/.xz/.gz).")],
    out_dir: OutOpt,
    min_score: Annotated[int | None, typer.Option("--min-score", help="Keep URLs whose summed Reddit score reaches this (default 3).")] = None,
    exclude_domain: Annotated[list[str] | None, typer.Option("--exclude-domain", help="Also exclude this domain and its subdomains (repeatable).")] = None,
    keep_domain: Annotated[list[str] | None, typer.Option("--keep-domain", help="Remove a domain from the default exclusion list (repeatable).")] = None,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Collect canonical, deduplicated URLs from URL lists and Reddit dumps.

    Reddit submissions (Pushshift format) are WebText's source: link posts only, scores summed
    over all submissions of a URL, kept at --min-score or more. URLs are canonicalised (case,
    default ports, fragments, tracking parameters) and deduplicated; excluded domains (Reddit,
    imgur, YouTube, Wikipedia, …) and file types (images, video, archives, PDF…) are dropped,
    with counts per reason. Writes OUT/urls.jsonl.

    Examples:

      gptkit data urls RS_2017-*.zst --out runs/w/urls

      gptkit data urls links.txt more.jsonl --out runs/w/urls --keep-domain wikipedia.org
    """
    from gptkit.config import resolve
    from gptkit.data.urls import UrlsConfig, collect_urls

    cfg = resolve(UrlsConfig, "urls", recipe, {"inputs": [str(p) for p in inputs], "out": str(out_dir),
                                               "min_score": min_score}, set_ or [])  # fmt: skip
    removed = {d.lower() for d in keep_domain or []}
    cfg.exclude_domains = [d for d in cfg.exclude_domains if d.lower() not in removed] + list(exclude_domain or [])
    summary = collect_urls(cfg, RichReporter())
    if summary.reused:
        already_complete(out_dir)
    _show_counts(f"urls → {out_dir}", summary.counts, summary.details["excluded_domains"])


def crawl(
    inputs: Annotated[list[Path], typer.Argument(help="A 'data urls' output directory, or URL lists (.txt / .jsonl).")],
    out_dir: OutOpt,
    concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, help="Requests in flight over all hosts (default 32).")] = None,
    delay: Annotated[float | None, typer.Option("--delay", min=0, help="Seconds between two requests to one host (default 1; robots.txt Crawl-delay may raise it).")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0, help="Seconds for one whole fetch, redirects included (default 60).")] = None,
    max_bytes: Annotated[int | None, typer.Option("--max-bytes", min=1, help="Body size cap in bytes; longer bodies are truncated and marked (default 10 MB).")] = None,
    retries: Annotated[int | None, typer.Option("--retries", min=0, help="Extra attempts on 429/5xx/timeouts/connection errors (default 2).")] = None,
    contact: Annotated[str | None, typer.Option("--contact", help="Contact appended to the User-Agent, e.g. mailto:you@example.org.")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Allow private, loopback and link-local addresses (tests, intranets).")] = False,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
) -> None:
    """Fetch URLs politely into gzipped WARC files, with a JSONL fetch log.

    Honours robots.txt (wildcards, Crawl-delay), one request at a time per host, a global
    concurrency cap, timeouts, a size cap, HTML only, bounded redirects, retries with backoff
    honouring Retry-After; private addresses are refused unless --allow-private. Writes
    OUT/warc/crawl-NNNNN.warc.gz and OUT/fetch_log.jsonl. If killed, rerun the same command:
    it fetches only what is not in the log yet.

    Examples:

      gptkit data crawl runs/w/urls --out runs/w/crawl --contact mailto:me@example.org

      gptkit data crawl urls.txt --out runs/w/crawl --delay 2 --concurrency 64 --set crawl.warc_max_bytes=100000000
    """
    from gptkit.config import resolve
    from gptkit.data.crawl import CrawlConfig
    from gptkit.data.crawl import crawl as run_crawl

    options = {
        "inputs": [str(p) for p in inputs], "out": str(out_dir), "concurrency": concurrency, "delay": delay,
        "total_timeout": timeout, "max_bytes": max_bytes, "retries": retries, "contact": contact,
        "allow_private": True if allow_private else None,
    }  # fmt: skip
    cfg = resolve(CrawlConfig, "crawl", recipe, options, set_ or [])
    summary = run_crawl(cfg, RichReporter())
    if summary.reused:
        already_complete(out_dir)
    _show_counts(f"crawl → {out_dir}", summary.counts, summary.details["reasons"])


@with_executor_options
def extract(
    inputs: Annotated[list[str], typer.Argument(
        help="WARC/WET files, crawl output dirs, dirs of .html[.gz], JSONL with 'html'; s3://, gs://, hf:// URLs too.")],
    out_dir: Annotated[str, typer.Option("--out", "-o", help="Output folder or s3://, gs:// URL (rerun to resume).")],
    extractor: Annotated[str | None, typer.Option("--extractor", help="resiliparse-precise (default: trafilatura's accuracy, ~6x its speed), resiliparse (fastest, keeps captions and bylines) or trafilatura.")] = None,
    workers: WorkersOpt = None,
    html_field: Annotated[str | None, typer.Option("--html-field", help="Field holding the page in JSONL inputs (default 'html').")] = None,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
    executor_options: dict | None = None,
) -> None:
    """Extract the main text of web pages into document shards.

    Reads WARC/WARC.gz (ours, Common Crawl's, wget's), WET (text kept as is), directories of
    .html/.html.gz files and JSONL with an 'html' field. Detects the charset, extracts the main
    text with Resiliparse (tuned for precision by default) or trafilatura, and writes
    OUT/NNNNN.jsonl.zst with url, title, warc_record_id and fetch_time in each document's
    metadata. One task per WARC/JSONL file, loose HTML files in tasks of about equal bytes, on
    --workers processes; a rerun skips finished tasks. Corrupt WARC/gzip data is reported with
    file and byte offset.

    Examples:

      gptkit data extract runs/w/crawl --out runs/w/docs

      gptkit data extract CC-MAIN-*.warc.gz --out runs/cc/docs --extractor trafilatura --workers 8

      gptkit data extract CC-MAIN-*.warc.gz --out /shared/cc/docs --executor slurm --workers 500 --time 01:00:00
    """
    import os

    from gptkit.config import resolve
    from gptkit.data.extract import ExtractConfig
    from gptkit.data.extract import extract as run_extract
    from gptkit.io.remote import local_stage

    executor, set_ = resolve_executor(recipe, executor_options or {}, set_)
    with local_stage(inputs, out_dir) as (local_inputs, local_out):
        options = {"inputs": local_inputs, "out": str(local_out), "extractor": extractor,
                   "workers": workers or os.cpu_count() or 1, "html_field": html_field}  # fmt: skip
        cfg = resolve(ExtractConfig, "extract", recipe, options, set_)
        summary = run_extract(cfg, RichReporter(), executor)
    if summary.reused:
        already_complete(out_dir)
    speed = {} if summary.reused else {"pages/s": summary.details["pages_per_s"]}
    _show_counts(f"extract → {out_dir}", {**summary.counts, **speed})
