"""The crawl frontier: which URL to fetch next, and the fetch log that makes a crawl resumable.

:class:`HostFrontier` hands out URLs so that one host has at most one request in flight and
waits at least its delay between two requests, while many hosts are fetched at once.
:class:`FetchLog` is the crawl's state on disk: one JSON line per finished URL, appended and
flushed as soon as its WARC records are written. A rerun reads it and skips every URL in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import Counter, deque
from pathlib import Path

import orjson


class HostFrontier:
    """Per-host queues scheduled by the earliest time each host may be contacted again.

    Used from one event loop: state changes happen between awaits, so no lock is needed;
    waiting workers are woken through an :class:`asyncio.Event` replaced on every change.
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[str]] = {}
        self._ready: list[tuple[float, int, str]] = []  # (not before, tiebreak, host)
        self._busy: set[str] = set()
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self.pending = 0

    def add(self, host: str, url: str) -> None:
        queue = self._queues.get(host)
        if queue is None:
            queue = self._queues[host] = deque()
            heapq.heappush(self._ready, (0.0, next(self._order), host))
        queue.append(url)
        self.pending += 1

    async def take(self) -> tuple[str, str] | None:
        """The next ``(host, url)`` whose host is free and rested; None when all is done."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._ready:
                if not self._busy:
                    return None
                await self._wait(None)
                continue
            not_before, _, host = self._ready[0]
            wait = not_before - loop.time()
            if wait > 0:
                await self._wait(wait)
                continue
            heapq.heappop(self._ready)
            self._busy.add(host)
            self.pending -= 1
            return host, self._queues[host].popleft()

    def release(self, host: str, delay: float) -> None:
        """``host`` is free again, but not before ``delay`` seconds from now."""
        self._busy.discard(host)
        if self._queues[host]:
            heapq.heappush(self._ready, (asyncio.get_running_loop().time() + delay, next(self._order), host))
        else:
            del self._queues[host]
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, timeout: float | None) -> None:
        """Until the frontier changes or ``timeout`` seconds pass. ``asyncio.timeout``, not
        ``wait_for``: Python 3.11's ``wait_for`` loses a cancellation (Ctrl-C) that arrives as the
        inner wait ends, and the crawl would go on to its next fetch."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()


class FetchLog:
    """``fetch_log.jsonl``: read the finished URLs of earlier runs, append new ones."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.done: set[str] = set()
        self.outcomes: Counter = Counter()
        self.reasons: Counter = Counter()
        self.warc_ends: dict[str, int] = {}  # WARC file name → end of its last logged record
        self._load()
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # a line cut by a kill: its URL was not finished
            with open(self.path, "r+b") as f:
                f.truncate(complete)
        for line in data[:complete].splitlines():
            try:
                self._count(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue

    def _count(self, entry: dict) -> None:
        self.done.add(entry["url"])
        self.outcomes[entry["outcome"]] += 1
        if entry.get("reason"):
            self.reasons[_reason_key(entry["reason"])] += 1
        if entry.get("warc"):
            end = entry["warc_offset"] + entry["warc_length"]
            self.warc_ends[entry["warc"]] = max(self.warc_ends.get(entry["warc"], 0), end)

    def append(self, entry: dict) -> None:
        self._file.write(orjson.dumps(entry) + b"\n")
        self._file.flush()
        self._count(entry)

    def close(self) -> None:
        self._file.close()


def _reason_key(reason: str) -> str:
    """Group reasons for counting: ``private address 10.0.0.1 (…)`` → ``private address``."""
    for prefix in ("private address", "content type", "connection error", "timeout", "invalid url",
                   "robots.txt unavailable", "DNS lookup failed", "too many redirects", "unsupported content encoding",
                   "bad content encoding"):  # fmt: skip
        if reason.startswith(prefix):
            return prefix
    if reason.startswith("HTTP "):
        return reason.split(" (")[0]
    return reason
