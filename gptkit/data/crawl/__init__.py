"""``gptkit data crawl``: a polite, bounded, resumable crawler that writes WARC files.

Built on httpx (async HTTP), protego (robots.txt with wildcards) and warcio (WARC):

- robots.txt fetched once per origin and honoured, Crawl-delay included (capped by
  ``max_crawl_delay``); the User-Agent names gptkit and an optional contact;
- one request at a time per host, at least ``delay`` seconds apart; ``concurrency`` requests in
  flight over all hosts;
- connect, read and total timeouts; bodies streamed and cut at ``max_bytes`` (marked
  ``WARC-Truncated: length``; gzip bombs are cut the same way, after decoding); only HTML kept;
  at most ``max_redirects`` redirects, loops detected; retries with exponential backoff and
  jitter on 429, 5xx, timeouts and connection errors, honouring Retry-After;
- private, loopback and link-local addresses refused after DNS resolution and on every
  redirect, unless ``allow_private`` (or the address is in ``allow_networks``);
- output ``warc/crawl-NNNNN.warc.gz`` (request + response records, rotated by size) and
  ``fetch_log.jsonl``; the log is the frontier state, so a killed crawl rerun with the same
  command fetches only what is not in it yet.

Python API::

    from gptkit.data.crawl import CrawlConfig, crawl
    summary = crawl(CrawlConfig(inputs=["runs/w/urls"], out="runs/w/crawl", delay=1.0))
    summary["counts"]   # {"urls": …, "fetched": …, "failed": …, "skipped": …}
    summary["reasons"]  # {"HTTP 404": …, "disallowed by robots.txt": …, …}
"""

from gptkit.data.crawl.config import CrawlConfig
from gptkit.data.crawl.crawler import FETCH_LOG, WARC_DIR, crawl

__all__ = ["CrawlConfig", "crawl", "FETCH_LOG", "WARC_DIR"]
