"""The crawl loop: URLs in, gzipped WARC files and a fetch log out (see :func:`crawl`)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gptkit.config import dump_toml, to_dict
from gptkit.data.crawl.config import CrawlConfig
from gptkit.data.crawl.fetch import Fetcher, FetchResult
from gptkit.data.crawl.frontier import FetchLog, HostFrontier
from gptkit.data.crawl.robots import RobotsCache, origin_of
from gptkit.data.crawl.safety import AddressGuard
from gptkit.data.urls import URLS_FILE, read_url_list
from gptkit.errors import UsageError
from gptkit.io.manifest import Manifest, file_record, input_records
from gptkit.io.shards import IssueLog, expand_inputs
from gptkit.io.warc import RotatingWarcWriter
from gptkit.reporting import NULL_REPORTER, Reporter, TaskHandle
from gptkit.stage import StageRun, Summary, check_inputs, identity

FETCH_LOG = "fetch_log.jsonl"
WARC_DIR = "warc"


def crawl_inputs(items: list[Path]) -> list[Path]:
    """URL files named by ``items``; a ``data urls`` output directory stands for its urls.jsonl."""
    files: list[Path] = []
    for item in items:
        p = Path(item)
        files.extend([p / URLS_FILE] if (p / URLS_FILE).is_file() else expand_inputs([p]))
    return files


def crawl(cfg: CrawlConfig, reporter: Reporter = NULL_REPORTER) -> Summary:
    """Fetch every input URL not yet in ``cfg.out``'s fetch log; return the summary.

    Writes ``warc/crawl-NNNNN.warc.gz`` (request + response records of the HTML pages fetched),
    ``fetch_log.jsonl`` (one line per URL: outcome, reason, status, bytes, time, WARC position),
    and, once every URL is done, ``manifest.json`` and ``config.toml``. Rerunning after a kill
    continues where it stopped; a finished crawl is skipped.
    """
    if cfg.out is None:
        raise UsageError("no output directory (--out)")
    if not cfg.inputs:
        raise UsageError("no URL inputs")
    try:
        guard = AddressGuard(cfg.allow_private, cfg.allow_networks)
    except ValueError as e:
        raise UsageError(str(e)) from None
    out = Path(cfg.out)
    paths = crawl_inputs(cfg.inputs)
    check_inputs(paths)
    config = to_dict(cfg)
    run = StageRun("crawl", out, identity(config), input_records(paths))
    if (done := run.reuse()) is not None:
        return Summary.recorded(out, done, "reasons", "issues")

    issues = IssueLog(on_issue=lambda i: reporter.warn(str(i)))
    urls = read_url_list(paths, issues)
    run.begin()
    log = FetchLog(out / FETCH_LOG)
    warc = RotatingWarcWriter(out / WARC_DIR, "crawl", cfg.warc_max_bytes)
    warc.salvage(log.warc_ends)
    todo = [u for u in urls if u not in log.done]
    started = time.time()
    try:
        with reporter.task("crawl", total=len(urls), unit="urls") as task:
            task.update(completed=len(urls) - len(todo))
            asyncio.run(_crawl(cfg, guard, todo, log, warc, task))
    finally:
        warc.finish()
        log.close()

    warcs = sorted((out / WARC_DIR).glob("crawl-*.warc.gz"))
    counts = {"urls": len(urls), **dict(log.outcomes), "bad input records": issues.total}
    details = {"reasons": dict(log.reasons.most_common()), "issues": issues.to_json()}
    dump_toml({"crawl": cfg}, out / "config.toml")
    run.finish(Manifest(
        stage="crawl", config=config, inputs=run.inputs,
        outputs=[file_record(p, out) for p in warcs] + [file_record(out / FETCH_LOG, out, urls=len(log.done))],
        counts=counts, timings={"last_run_s": round(time.time() - started, 3)}, extra=details,
    ))  # fmt: skip
    return Summary(str(out), counts, {**details, "fetched_this_run": len(todo)})


async def _crawl(
    cfg: CrawlConfig, guard: AddressGuard, urls: list[str], log: FetchLog, warc: RotatingWarcWriter, task: TaskHandle
) -> None:
    frontier = HostFrontier()
    for url in urls:
        frontier.add(_host_of(url), url)
    timeout = httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout)
    limits = httpx.Limits(max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False) as client:
        fetcher = Fetcher(client, cfg, guard)
        robots = RobotsCache(fetcher, cfg.agent)
        progress = _Progress(task, log, cfg.progress_every)
        workers = [asyncio.create_task(_worker(cfg, frontier, fetcher, robots, log, warc, progress)) for _ in range(cfg.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            progress.show()


async def _worker(
    cfg: CrawlConfig, frontier: HostFrontier, fetcher: Fetcher, robots: RobotsCache,
    log: FetchLog, warc: RotatingWarcWriter, progress: _Progress,
) -> None:  # fmt: skip
    while (item := await frontier.take()) is not None:
        host, url = item
        delay = 0.0
        try:
            robots_fetched = robots.fetched
            result, crawl_delay = await _fetch_politely(url, cfg, fetcher, robots)
            if result.attempts or robots.fetched > robots_fetched:  # the host was contacted: rest it
                delay = max(cfg.delay, min(crawl_delay or 0.0, cfg.max_crawl_delay))
            _record(result, log, warc)
            progress.advance()
        finally:
            frontier.release(host, delay)


async def _fetch_politely(url: str, cfg: CrawlConfig, fetcher: Fetcher, robots: RobotsCache) -> tuple[FetchResult, float | None]:
    """Fetch ``url`` if its robots.txt allows it; also return the host's Crawl-delay."""
    try:
        origin_of(url)
    except (ValueError, httpx.InvalidURL) as e:
        return FetchResult(url).fail(f"invalid url: {e}"), None
    if not cfg.respect_robots:
        return await fetcher.fetch(url), None
    rules = await robots.rules(url)
    refusal = rules.refusal(url, cfg.agent)
    if refusal is not None:
        return FetchResult(url).fail(refusal, outcome="skipped"), rules.crawl_delay(cfg.agent)
    return await fetcher.fetch(url, check=robots.refusal), rules.crawl_delay(cfg.agent)


def _record(result: FetchResult, log: FetchLog, warc: RotatingWarcWriter) -> None:
    """Write the WARC records of a fetched page, then its log line (the line confirms them)."""
    fetch_time = datetime.fromtimestamp(result.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {
        "url": result.url, "outcome": result.outcome, "reason": result.reason, "status": result.status,
        "final_url": result.final_url, "bytes": len(result.body), "content_type": result.content_type,
        "truncated": result.truncated, "redirects": len(result.redirects), "attempts": result.attempts,
        "ip": result.ip, "time": fetch_time, "elapsed_s": round(time.time() - result.started, 3),
    }  # fmt: skip
    if result.outcome == "fetched":
        final = httpx.URL(result.final_url)
        request_line = f"GET {final.raw_path.decode('ascii')} HTTP/1.1"
        warc_headers = {"WARC-Date": fetch_time, "WARC-IP-Address": result.ip or ""}
        if result.truncated:
            warc_headers["WARC-Truncated"] = "length"
        response_headers = [*result.headers, ("Content-Length", str(len(result.body)))]
        name, offset, length = warc.write_exchange(
            result.final_url, request_line, result.request_headers,
            f"{result.status} {result.status_text}".strip(), response_headers, result.body, warc_headers,
        )  # fmt: skip
        entry.update(warc=name, warc_offset=offset, warc_length=length)
    log.append(entry)


class _Progress:
    """Throttled progress line: fetched / failed / skipped counts and pages per second."""

    def __init__(self, task: TaskHandle, log: FetchLog, every: float):
        self.task, self.log, self.every = task, log, every
        self.start = self.last = time.monotonic()
        self.done = 0

    def advance(self) -> None:
        self.done += 1
        self.task.advance()
        if time.monotonic() - self.last >= self.every:
            self.show()

    def show(self) -> None:
        self.last = time.monotonic()
        rate = self.done / max(self.last - self.start, 1e-9)
        o = self.log.outcomes
        self.task.update(fetched=o["fetched"], failed=o["failed"], skipped=o["skipped"], rate=f"{rate:.1f}/s")


def _host_of(url: str) -> str:
    try:
        return (httpx.URL(url).host or "").lower()
    except (httpx.InvalidURL, ValueError):
        return ""
