"""Crawl throughput: gptkit data crawl vs a bare httpx crawler, same pages, same server, same run.

A separate server process (stdlib ``ThreadingHTTPServer``, one per host, on loopback addresses
127.0.0.2 … so the hosts are distinct) serves ``--pages`` pages per host, taken in turn from the
181 real pages of the article-extraction benchmark (170 KB mean).
Both crawlers obey the same politeness rule — one request at a time per host, no delay
between them — so throughput is bounded by hosts × round-trip time, as on the open web:

- bare: ``httpx.AsyncClient``, one asyncio task per host fetching its URLs in turn, bodies read
  and dropped (no robots.txt, no checks, nothing written): the ceiling;
- bare + warcio: the same, each page written as request + response records with warcio's
  ``WARCWriter(gzip=True)`` — the job glued by hand from the two libraries;
- gptkit: ``gptkit.data.crawl.crawl`` (robots.txt per host, SSRF checks after resolution,
  size cap, content-type check, gzipped WARC request+response records, the fetch log, the
  manifest) with ``delay=0`` and ``allow_private``.

Best of ``--repeat`` rounds, the two alternating.

    .venv/bin/python benchmarks/bench_crawl.py
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import multiprocessing as mp
import shutil
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from gptkit.data.crawl import CrawlConfig, crawl

DEFAULT_PAGES = Path(__file__).resolve().parents[1].parent / "shared/data/web/article-extraction-benchmark/html"


def serve(hosts: list[str], bodies: list[bytes], ready, stop) -> None:
    """One threaded HTTP server per host (port 8000 + i); robots.txt is a 404 (all allowed)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body in two sends meet delayed ACKs (40 ms)
        wbufsize = 1 << 16  # one send per response (flushed at the end of each request)

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/robots.txt":
                status, data = 404, b""
            else:
                status, data = 200, bodies[int(self.path.rsplit("/", 1)[-1].split(".")[0]) % len(bodies)]
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    servers = [ThreadingHTTPServer((host, 8000 + i), Handler) for i, host in enumerate(hosts)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ready.set()
    stop.wait()


async def bare_crawl(urls_by_host: dict[str, list[str]], warc_path: Path | None = None) -> int:
    writer = WARCWriter(warc_path.open("wb"), gzip=True) if warc_path else None
    async with httpx.AsyncClient(trust_env=False) as client:

        async def host_worker(urls: list[str]) -> int:
            n = 0
            for url in urls:
                r = await client.get(url)
                n += len(r.content)
                if writer is not None:
                    http = StatusAndHeaders(f"{r.status_code} {r.reason_phrase}", r.headers.items(), protocol="HTTP/1.1")
                    resp = writer.create_warc_record(url, "response", payload=io.BytesIO(r.content), http_headers=http)
                    req_http = StatusAndHeaders(f"GET {r.url.raw_path.decode()} HTTP/1.1", r.request.headers.items(),
                                                is_http_request=True)  # fmt: skip
                    req = writer.create_warc_record(url, "request", payload=io.BytesIO(b""), http_headers=req_http)
                    writer.write_request_response_pair(req, resp)
            return n

        try:
            return sum(await asyncio.gather(*(host_worker(u) for u in urls_by_host.values())))
        finally:
            if writer is not None:
                writer.out.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--pages", type=int, default=150, help="pages per host")
    ap.add_argument("--html", type=Path, default=DEFAULT_PAGES, help="directory of .html.gz pages")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    hosts = [f"127.0.0.{i + 2}" for i in range(args.hosts)]
    bodies = [gzip.decompress(p.read_bytes()) for p in sorted(args.html.glob("*.html.gz"))]
    total_bytes = args.hosts * sum(len(bodies[k % len(bodies)]) for k in range(args.pages))
    urls = {h: [f"http://{h}:{8000 + i}/page/{k}.html" for k in range(args.pages)] for i, h in enumerate(hosts)}
    n = args.hosts * args.pages

    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    server = ctx.Process(target=serve, args=(hosts, bodies, ready, stop), daemon=True)
    server.start()
    ready.wait(30)
    tmp = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    url_file = tmp / "urls.txt"
    url_file.write_text("".join(u + "\n" for us in urls.values() for u in us))
    best = {"bare": float("inf"), "bare + warcio": float("inf"), "gptkit": float("inf")}
    try:
        for r in range(args.repeat):
            names = list(best)
            for name in names[r % 3 :] + names[: r % 3]:
                t0 = time.perf_counter()
                if name.startswith("bare"):
                    got = asyncio.run(bare_crawl(urls, tmp / "bare.warc.gz" if "warcio" in name else None))
                    assert got == total_bytes, got
                else:
                    out = tmp / f"crawl-{r}"
                    summary = crawl(CrawlConfig(inputs=[url_file], out=out, delay=0.0, allow_private=True))
                    assert summary.counts["fetched"] == n, summary.counts
                    shutil.rmtree(out)
                best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        stop.set()
        server.join(10)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{n} pages ({total_bytes / n / 1024:.0f} KB mean) on {args.hosts} hosts (one request at a time per host), best of {args.repeat}")
    for name, t in best.items():
        print(f"{name:<14} {t:6.2f} s  {n / t:7.0f} pages/s  {total_bytes / t / 1e6:6.1f} MB/s")
    print(f"gptkit / bare + warcio: {best['bare + warcio'] / best['gptkit']:.2f}x   gptkit / bare: {best['bare'] / best['gptkit']:.2f}x")
    print(json.dumps({k: round(n / v, 1) for k, v in best.items()}))


if __name__ == "__main__":
    main()
