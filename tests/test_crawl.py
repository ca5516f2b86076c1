"""The crawler against real HTTP servers on 127.0.0.x: politeness, failures, SSRF, kill-and-resume."""

from __future__ import annotations

import gzip
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from conftest import REPO, assert_one_line_error, run_gptkit

from gptkit.data.crawl import CrawlConfig, crawl
from gptkit.io.hashing import hash_file
from gptkit.io.shards import IssueLog
from gptkit.io.warc import iter_warc

ROBOTS = b"User-agent: *\nDisallow: /private/\nDisallow: /*.pdf$\nDisallow: /*?session=\n"
BOMB = gzip.compress(b"\0" * (20 << 20), compresslevel=9)  # 20 MB of zeros in ~20 KB


def page(text: str) -> bytes:
    return f"<html><head><title>{text}</title></head><body><p>{text}</p></body></html>".encode()


class Gauge:
    """Requests in flight (and the most seen at once), shareable between servers."""

    def __init__(self):
        self.now = self.max = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.max = max(self.max, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


class Site:
    """A real threaded HTTP server with scripted paths; counts requests per path."""

    def __init__(self, host: str = "127.0.0.1", robots: bytes | None = ROBOTS, gauge: Gauge | None = None):
        self.robots = robots
        self.requests: Counter = Counter()
        self.times: dict[str, list[float]] = {}
        self.in_flight = Gauge()
        self.shared = gauge or Gauge()
        self.lock = threading.Lock()
        self.release = threading.Event()  # ``/held/…`` answers only once this is set
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with site.lock:
                    site.requests[self.path] += 1
                    site.times.setdefault(self.path, []).append(time.monotonic())
                self.gauges = [site.in_flight, site.shared]
                for gauge in self.gauges:
                    gauge.__enter__()
                try:
                    site.respond(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    self.answering()

            def answering(self):
                """The request stops counting as in flight when its answer starts: the client may
                send its next request the moment the last byte arrives, before this thread moves on."""
                for gauge in self.gauges:
                    gauge.__exit__(None, None, None)
                self.gauges = []

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def pages(self) -> Counter:
        return Counter({p: n for p, n in self.requests.items() if p != "/robots.txt"})

    def respond(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path == "/robots.txt":
            if self.robots is None:
                return self.send(h, 404, b"no robots", "text/plain")
            return self.send(h, 200, self.robots, "text/plain")
        if path.startswith("/redirect-loop/"):
            nxt = "/redirect-loop/b" if path.endswith("/a") else "/redirect-loop/a"
            return self.send(h, 302, b"", "text/html", [("Location", nxt)])
        if path.startswith("/to-address/"):  # a public-looking redirect to a literal address
            target = path.removeprefix("/to-address/")
            return self.send(h, 302, b"", "text/html", [("Location", f"http://{target}/latest/meta-data")])
        if path == "/to-private":
            port = self.server.server_address[1]
            return self.send(h, 302, b"", "text/html", [("Location", f"http://127.0.0.2:{port}/page/x")])
        if path.startswith("/wait"):
            time.sleep(0.1)
        if path.startswith("/held/"):
            self.release.wait(120)
        if path == "/404":
            return self.send(h, 404, b"not found", "text/html")
        if path == "/500":
            return self.send(h, 500, b"boom", "text/html")
        if path == "/429-once":
            if self.requests[path] == 1:
                return self.send(h, 429, b"slow down", "text/html", [("Retry-After", "1")])
            return self.send(h, 200, page("after 429"), "text/html")
        if path == "/image.png":
            return self.send(h, 200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
        if path == "/no-type":
            return self.send(h, 200, b"\0\1\2 binary", None)
        if path == "/bad-charset":
            return self.send(h, 200, "<html><body><p>caf\u00e9 cr\u00e8me</p></body></html>".encode("cp1252"),
                             "text/html; charset=no-such-charset")  # fmt: skip
        if path == "/bomb":
            return self.send(h, 200, BOMB, "text/html", [("Content-Encoding", "gzip")])
        if path == "/endless":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Connection", "close")
            h.end_headers()
            chunk = b"<p>" + b"x" * 65536 + b"</p>\n"
            for _ in range(2000):  # ~130 MB if nobody stops reading
                h.wfile.write(chunk)
            return None
        if path == "/slow":
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            for _ in range(400):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.05)
            return None
        if path == "/reset":
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n<html>")
            h.wfile.flush()
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return None
        return self.send(h, 200, page(path), "text/html; charset=utf-8")

    @staticmethod
    def send(h, status: int, body: bytes, content_type: str | None, headers=()) -> None:
        h.answering()
        h.send_response(status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    s = Site()
    yield s
    s.close()


def fast_config(tmp_path: Path, urls: list[str], **kw) -> CrawlConfig:
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    opts = dict(inputs=[tmp_path / "urls.txt"], out=tmp_path / "crawl", allow_private=True, delay=0.01,
                retries=1, backoff=0.05, total_timeout=2.0, read_timeout=1.0, max_bytes=200_000)  # fmt: skip
    return CrawlConfig(**{**opts, **kw})


def read_log(out: Path) -> dict[str, dict]:
    lines = (out / "fetch_log.jsonl").read_bytes().splitlines()
    entries = [orjson.loads(line) for line in lines]
    assert len(entries) == len({e["url"] for e in entries}), "a URL logged twice"
    return {e["url"]: e for e in entries}


def wait_for_log_lines(path: Path, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.read_bytes().count(b"\n") >= n):
        assert time.monotonic() < deadline, f"{path} never reached {n} lines"
        time.sleep(0.005)


def warc_urls(out: Path) -> list[str]:
    issues = IssueLog()
    urls = [r.url for p in sorted((out / "warc").glob("*.warc.gz")) for r in iter_warc(p, issues)]
    assert issues.total == 0, issues.examples
    return urls


def test_failures_are_logged_and_never_crash(tmp_path, site):
    paths = ["/page/1", "/private/secret", "/doc.pdf", "/page/2?session=abc", "/404", "/500", "/429-once",
             "/redirect-loop/a", "/image.png", "/no-type", "/bad-charset", "/bomb", "/endless", "/slow", "/reset"]  # fmt: skip
    cfg = fast_config(tmp_path, [site.url(p) for p in paths] + ["ftp://example.org/x", "http://", "http://nowhere.invalid/"])
    summary = crawl(cfg)
    log = read_log(cfg.out)
    by_path = {p: log[site.url(p)] for p in paths}

    assert by_path["/page/1"]["outcome"] == "fetched" and by_path["/page/1"]["status"] == 200
    for p in ("/private/secret", "/doc.pdf", "/page/2?session=abc"):  # robots.txt wildcard rules
        assert by_path[p]["reason"] == "disallowed by robots.txt", p
        assert site.requests[p] == 0, p
    assert by_path["/404"]["reason"] == "HTTP 404" and site.requests["/404"] == 1  # no retry on 4xx
    assert by_path["/500"]["reason"] == "HTTP 500" and site.requests["/500"] == 2  # retried once
    e = by_path["/429-once"]
    assert e["outcome"] == "fetched" and e["attempts"] == 2
    t = site.times["/429-once"]
    assert t[1] - t[0] >= 0.95  # Retry-After: 1 honoured
    assert by_path["/redirect-loop/a"]["reason"] == "redirect loop"
    assert by_path["/image.png"]["reason"] == "content type image/png"
    assert by_path["/no-type"]["outcome"] == "skipped"
    assert by_path["/bad-charset"]["outcome"] == "fetched"
    for p in ("/bomb", "/endless"):  # size cap after decoding, body cut and marked
        assert by_path[p]["outcome"] == "fetched" and by_path[p]["truncated"], p
        assert by_path[p]["bytes"] == cfg.max_bytes, p
    assert by_path["/slow"]["reason"].startswith("timeout") and site.requests["/slow"] == 2
    assert by_path["/reset"]["reason"].startswith("connection error") and site.requests["/reset"] == 2
    assert log["ftp://example.org/x"]["reason"].startswith("invalid url")
    assert log["http://"]["outcome"] == "failed"
    assert log["http://nowhere.invalid/"]["reason"].startswith("DNS lookup failed")
    assert site.requests["/robots.txt"] == 1

    fetched = {u for u, e in log.items() if e["outcome"] == "fetched"}
    assert set(warc_urls(cfg.out)) == fetched
    records = {r.url: r for r in iter_warc(cfg.out / "warc" / "crawl-00000.warc.gz", IssueLog())}
    assert records[site.url("/bomb")].truncated == "length"
    assert records[site.url("/page/1")].payload == page("/page/1")
    assert summary.counts["urls"] == len(paths) + 3
    assert summary.details["reasons"]["disallowed by robots.txt"] == 3


def test_warc_is_standard_and_log_offsets_address_each_exchange(tmp_path, site):
    """warcio reads our WARC.gz as written; each log line's (offset, length) is a self-contained
    slice of gzip members holding that URL's request and response (random access, as CC's index)."""
    from warcio.archiveiterator import ArchiveIterator

    cfg = fast_config(tmp_path, [site.url(f"/page/{i}") for i in range(5)])
    crawl(cfg)
    warc = cfg.out / "warc" / "crawl-00000.warc.gz"
    with warc.open("rb") as f:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                   for r in ArchiveIterator(f)]  # fmt: skip
    assert [t for t, _, _ in records] == ["request", "response"] * 5
    data = warc.read_bytes()
    for url, entry in read_log(cfg.out).items():
        chunk = data[entry["warc_offset"] : entry["warc_offset"] + entry["warc_length"]]
        pair = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                for r in ArchiveIterator(io.BytesIO(chunk))]  # fmt: skip
        assert pair == [("request", url, b""), ("response", url, page("/" + url.split("/", 3)[3]))]


def test_private_addresses_refused_after_resolution_and_on_redirect(tmp_path, site):
    cfg = fast_config(tmp_path, [site.url("/page/1"), site.url("/to-private"), "http://169.254.169.254/latest/meta-data"],
                      allow_private=False, allow_networks=["127.0.0.1/32"])  # fmt: skip
    crawl(cfg)
    log = read_log(cfg.out)
    assert log[site.url("/page/1")]["outcome"] == "fetched"  # 127.0.0.1 explicitly allowed
    redirected = log[site.url("/to-private")]
    assert redirected["outcome"] == "skipped" and redirected["reason"].startswith("private address 127.0.0.2")
    assert log["http://169.254.169.254/latest/meta-data"]["reason"].startswith("private address 169.254.169.254")
    assert site.requests["/page/x"] == 0

    (tmp_path / "b").mkdir()
    cfg2 = fast_config(tmp_path / "b", [site.url("/page/1"), "http://localhost:9/x"], allow_private=False)
    crawl(cfg2)
    log2 = read_log(cfg2.out)
    assert log2[site.url("/page/1")]["reason"].startswith("private address 127.0.0.1")
    assert log2["http://localhost:9/x"]["reason"].startswith("private address")  # checked after DNS
    assert site.requests["/page/1"] == 1


@pytest.mark.parametrize("address", ["100.100.100.200", "[2002:7f00:1::]", "[64:ff9b::a9fe:a9fe]", "[::ffff:10.0.0.1]",
                                     "198.18.0.1", "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "192.0.0.170"])
def test_redirects_to_special_purpose_addresses_are_refused_via_cli(tmp_path, site, address):
    """Carrier-grade NAT (the 100.100.100.200 metadata service), 6to4 / NAT64 / mapped IPv6 that
    carry a private IPv4 address, benchmarking, Teredo, IETF assignments: none is public."""
    url = site.url(f"/to-address/{address}")
    (tmp_path / "urls.txt").write_text(url + "\n")
    proc = run_gptkit("data", "crawl", tmp_path / "urls.txt", "--out", tmp_path / "c", "--delay", "0.01",
                      "--set", 'crawl.allow_networks=["127.0.0.1/32"]', "--set", "crawl.retries=0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    entry = read_log(tmp_path / "c")[url]
    assert entry["outcome"] == "skipped" and entry["reason"].startswith("private address"), entry


def test_crawl_delay_per_host_serialisation_and_robots_cache(tmp_path):
    slow = Site("127.0.0.1", robots=b"User-agent: *\nCrawl-delay: 0.3\n")
    other = Site("127.0.0.2", robots=None)
    try:
        urls = [slow.url(f"/page/{i}") for i in range(4)] + [other.url(f"/page/{i}") for i in range(6)]
        cfg = fast_config(tmp_path, urls, concurrency=8)
        crawl(cfg)
        log = read_log(cfg.out)
        assert all(e["outcome"] == "fetched" for e in log.values())
        starts = sorted(t[0] for p, t in slow.times.items() if p != "/robots.txt")
        assert all(b - a >= 0.29 for a, b in zip(starts, starts[1:], strict=False)), starts  # Crawl-delay honoured
        assert slow.in_flight.max == 1 and other.in_flight.max == 1  # one request at a time per host
        assert slow.requests["/robots.txt"] == 1 and other.requests["/robots.txt"] == 1  # cached per host
    finally:
        slow.close()
        other.close()


def test_global_concurrency_cap(tmp_path):
    gauge = Gauge()
    hosts = [Site(f"127.0.0.{i}", robots=None, gauge=gauge) for i in (1, 2, 3)]
    try:
        cfg = fast_config(tmp_path, [h.url(f"/wait/{i}") for h in hosts for i in range(2)], concurrency=1)
        crawl(cfg)
        assert all(e["outcome"] == "fetched" for e in read_log(cfg.out).values())
        assert gauge.max == 1  # three hosts, but never more than one request in flight
    finally:
        for h in hosts:
            h.close()


def test_kill_and_resume_fetches_nothing_twice(tmp_path):
    site = Site(robots=None)
    try:
        urls = [site.url(f"/page/{i}") for i in range(12)]
        (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
        out = tmp_path / "crawl"
        cmd = [sys.executable, "-m", "gptkit", "-q", "data", "crawl", str(tmp_path / "urls.txt"), "--out", str(out),
               "--allow-private", "--delay", "0.3", "--concurrency", "1", "--set", "crawl.warc_max_bytes=2000"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_log_lines(out / "fetch_log.jsonl", 5)  # kill right after the 5th URL, during its delay
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first = read_log(out)
        assert 5 <= len(first) < len(urls)
        assert not (out / "manifest.json").exists()
        finished = {p: hash_file(p) for p in (out / "warc").glob("*.warc.gz")}
        assert finished, "rotation should have finished a WARC file before the kill"

        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        log = read_log(out)
        assert set(log) == set(urls)
        assert set(site.pages().values()) == {1}, site.pages()  # server side: each page requested once
        assert sorted(warc_urls(out)) == sorted(urls)  # each page stored once
        assert all(hash_file(p) == h for p, h in finished.items())  # finished WARCs untouched
        assert not list((out / "warc").glob("*.open"))
        assert (out / "manifest.json").is_file()

        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and set(site.pages().values()) == {1}  # a finished crawl is skipped
        assert "fetched" in again.stdout  # ... and shows its counts
    finally:
        site.close()


def test_ctrl_c_finishes_the_warc_and_exits_130(tmp_path):
    """The server holds every page after the third until Ctrl-C has been sent, so however slow a
    loaded machine is, the crawl cannot finish before the signal arrives."""
    site = Site(robots=None)
    try:
        urls = [site.url(f"/page/{i}") for i in range(3)] + [site.url(f"/held/{i}") for i in range(3, 20)]
        (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
        out = tmp_path / "crawl"
        cmd = [sys.executable, "-m", "gptkit", "-q", "data", "crawl", str(tmp_path / "urls.txt"), "--out", str(out),
               "--allow-private", "--delay", "0.01", "--concurrency", "1"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for_log_lines(out / "fetch_log.jsonl", 3)
        proc.send_signal(signal.SIGINT)
        try:
            _, stderr = proc.communicate(timeout=100)
        except subprocess.TimeoutExpired:  # SIGABRT makes faulthandler print where every thread is stuck
            proc.send_signal(signal.SIGABRT)
            pytest.fail(f"still running 100 s after Ctrl-C:\n{proc.communicate()[1]}")
        site.release.set()
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr
        assert not list((out / "warc").glob("*.open")) and list((out / "warc").glob("*.warc.gz"))
        assert subprocess.run(cmd, env=env, capture_output=True, timeout=120).returncode == 0
        assert set(read_log(out)) == set(urls)
        assert {p: n for p, n in site.pages().items() if not p.startswith("/held/")} == {f"/page/{i}": 1 for i in range(3)}
    finally:
        site.release.set()
        site.close()


def test_cli_errors_are_one_line(tmp_path):
    proc = run_gptkit("data", "crawl", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "c"))
    assert_one_line_error(proc, "missing.txt")
    (tmp_path / "u.txt").write_text("http://example.org/\n")
    proc = run_gptkit("data", "crawl", str(tmp_path / "u.txt"), "--out", str(tmp_path / "c"), "--set", "crawl.delay=-1")
    assert_one_line_error(proc, "delay")
