"""robots.txt: fetched once per origin, parsed with protego (wildcards, Allow, Crawl-delay).

Per RFC 9309: a robots.txt answered with 4xx means "no rules" (everything allowed); a 5xx,
timeout or network failure means "assume everything disallowed" for this run.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import httpx
from protego import Protego

from gptkit.data.crawl.fetch import Fetcher


@dataclass
class RobotsRules:
    parser: Protego | None  # None: no rules apply (allow all) or ``blocked`` says why not
    blocked: str | None = None  # reason everything is disallowed (robots.txt unavailable)

    def refusal(self, url: str, agent: str) -> str | None:
        """Why ``url`` must not be fetched, or None when it may."""
        if self.blocked:
            return self.blocked
        if self.parser is not None and not self.parser.can_fetch(url, agent):
            return "disallowed by robots.txt"
        return None

    def crawl_delay(self, agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(agent)
        return float(delay) if delay is not None else None


class RobotsCache:
    """One :class:`RobotsRules` per origin (scheme://host:port), fetched on first use."""

    def __init__(self, fetcher: Fetcher, agent: str):
        self.fetcher, self.agent = fetcher, agent
        self._rules: dict[str, RobotsRules] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.fetched = 0

    async def rules(self, url: str) -> RobotsRules:
        origin = origin_of(url)
        async with self._locks[origin]:
            if origin not in self._rules:
                self._rules[origin] = await self._load(origin)
            return self._rules[origin]

    async def refusal(self, url: str) -> str | None:
        """Why robots.txt forbids ``url`` (None when allowed); used for redirect targets too."""
        try:
            return (await self.rules(url)).refusal(url, self.agent)
        except (httpx.InvalidURL, ValueError) as e:
            return f"invalid url: {e}"

    async def _load(self, origin: str) -> RobotsRules:
        self.fetched += 1
        result = await self.fetcher.fetch(
            f"{origin}/robots.txt", html_only=False, max_bytes=self.fetcher.cfg.max_robots_bytes, retries=0
        )
        if result.outcome == "fetched":
            return RobotsRules(Protego.parse(result.body.decode("utf-8", errors="replace")))
        if result.outcome == "skipped" or (result.reason or "").startswith("DNS lookup failed"):
            return RobotsRules(None)  # the page fetch meets the same problem and reports it itself
        if result.status is not None and 400 <= result.status < 500 and result.status != 429:
            return RobotsRules(None)
        return RobotsRules(None, blocked=f"robots.txt unavailable ({result.reason})")


def origin_of(url: str) -> str:
    u = httpx.URL(url)
    if u.scheme not in ("http", "https") or not u.host:
        raise ValueError(f"not an http(s) URL: {url}")
    host = f"[{u.host}]" if ":" in u.host else u.host
    return f"{u.scheme}://{host}" + (f":{u.port}" if u.port is not None else "")
