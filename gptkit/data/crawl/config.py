"""The crawler's configuration (the ``[crawl]`` table of a recipe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gptkit import __version__
from gptkit.io.warc import HTML_CONTENT_TYPES

DEFAULT_USER_AGENT = f"gptkit/{__version__} (research crawler)"


@dataclass
class CrawlConfig:
    inputs: list[Path] = field(default_factory=list)
    out: Path | None = None
    user_agent: str = DEFAULT_USER_AGENT
    contact: str | None = None  # appended to the User-Agent, e.g. "mailto:me@example.org"
    concurrency: int = 32  # requests in flight at once, over all hosts
    delay: float = 1.0  # minimum seconds between two requests to one host
    max_crawl_delay: float = 30.0  # a robots.txt Crawl-delay above this is capped
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # longest wait for the next bytes
    total_timeout: float = 60.0  # whole fetch of one URL, redirects included (slow-drip guard)
    max_bytes: int = 10 << 20  # body size cap; longer bodies are truncated and marked
    max_robots_bytes: int = 512 << 10
    max_redirects: int = 5
    retries: int = 2  # extra attempts on 429, 5xx, timeouts and connection errors
    backoff: float = 1.0  # first retry waits about this long (doubling, ±50% jitter)
    max_backoff: float = 60.0
    max_retry_after: float = 120.0  # a longer Retry-After gives up on the URL
    html_types: list[str] = field(default_factory=lambda: list(HTML_CONTENT_TYPES))
    respect_robots: bool = True
    allow_private: bool = False  # allow private, loopback and link-local addresses (tests, intranets)
    allow_networks: list[str] = field(default_factory=list)  # CIDRs allowed even when private
    warc_max_bytes: int = 1 << 30  # rotate WARC files at about this size
    progress_every: float = 0.5  # seconds between progress updates

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        for name in ("delay", "connect_timeout", "read_timeout", "total_timeout", "backoff"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_bytes < 1 or self.max_redirects < 0 or self.retries < 0:
            raise ValueError("max_bytes must be positive; max_redirects and retries not negative")

    @property
    def agent(self) -> str:
        return f"{self.user_agent} {self.contact}" if self.contact else self.user_agent
