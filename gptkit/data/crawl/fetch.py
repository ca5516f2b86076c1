"""Fetch one URL politely and defensively: SSRF-checked, bounded, retried, size-capped.

:meth:`Fetcher.fetch` never raises for a network or server problem: every outcome comes back as a
:class:`FetchResult` whose ``outcome`` is ``fetched``, ``failed`` or ``skipped`` and whose
``reason`` says why (``HTTP 404``, ``timeout: ReadTimeout``, ``redirect loop``, ``content type
image/png``, ``private address 10.0.0.1 …``).
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import httpx

from gptkit.data.crawl.config import CrawlConfig
from gptkit.data.crawl.safety import AddressGuard, LookupFailed, Refused

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Response headers that describe the transfer, not the stored (decoded) body.
TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})

#: Checks a redirect target before it is fetched (robots.txt); returns a reason to skip it.
TargetCheck = Callable[[str], Awaitable[str | None]]


@dataclass
class FetchResult:
    url: str
    outcome: str = "failed"  # fetched | failed | skipped
    reason: str | None = None
    final_url: str | None = None
    status: int | None = None
    status_text: str = ""
    content_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False
    ip: str | None = None
    redirects: list[str] = field(default_factory=list)
    attempts: int = 0
    started: float = field(default_factory=time.time)
    retryable: bool = False
    retry_after: float | None = None

    def fail(self, reason: str, retryable: bool = False, outcome: str = "failed") -> FetchResult:
        self.outcome, self.reason, self.retryable = outcome, reason, retryable
        return self


class _BodyDecoder:
    """Undo Content-Encoding (gzip/deflate) chunk by chunk, never producing more than asked."""

    def __init__(self, encoding: str | None):
        enc = (encoding or "identity").strip().lower()
        if enc in ("", "identity"):
            self._z = None
        elif enc in ("gzip", "x-gzip", "deflate"):
            self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, auto-detected
        else:
            raise ValueError(f"unsupported content encoding {enc!r}")

    def feed(self, chunk: bytes, limit: int) -> bytes:
        if self._z is None:
            return chunk[:limit]
        return self._z.decompress(self._z.unconsumed_tail + chunk, limit)


class Fetcher:
    """GET with manual, checked redirects and retries, on a shared ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient, cfg: CrawlConfig, guard: AddressGuard):
        self.client, self.cfg, self.guard = client, cfg, guard

    async def fetch(
        self, url: str, check: TargetCheck | None = None, html_only: bool = True,
        max_bytes: int | None = None, retries: int | None = None,
    ) -> FetchResult:  # fmt: skip
        """Fetch ``url`` with up to ``retries`` extra attempts on transient failures."""
        retries = self.cfg.retries if retries is None else retries
        attempt = 0
        while True:
            result = await self._attempt(url, check, html_only, max_bytes or self.cfg.max_bytes)
            result.attempts = attempt = attempt + 1
            if not result.retryable or attempt > retries:
                return result
            wait = self._backoff(attempt - 1, result.retry_after)
            if wait is None:
                result.reason = f"{result.reason} (Retry-After {result.retry_after:g} s > max_retry_after)"
                return result
            await asyncio.sleep(wait)

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return None if retry_after > self.cfg.max_retry_after else retry_after
        base = min(self.cfg.max_backoff, self.cfg.backoff * 2**attempt)
        return base * random.uniform(0.5, 1.5)

    async def _attempt(self, url: str, check: TargetCheck | None, html_only: bool, max_bytes: int) -> FetchResult:
        result = FetchResult(url)
        current, seen = url, {url}
        try:
            async with asyncio.timeout(self.cfg.total_timeout):
                for hop in range(self.cfg.max_redirects + 1):
                    if hop and check is not None and (why := await check(current)):
                        return result.fail(why, outcome="skipped")
                    location = await self._get(current, result, html_only, max_bytes)
                    if location is None:
                        return result
                    current = urljoin(current, location)
                    result.redirects.append(current)
                    if current in seen:
                        return result.fail("redirect loop")
                    seen.add(current)
                return result.fail(f"too many redirects (more than {self.cfg.max_redirects})")
        except Refused as e:
            return result.fail(str(e), outcome="skipped")
        except LookupFailed as e:
            return result.fail(str(e))
        except TimeoutError:
            return result.fail(f"timeout: no complete response in {self.cfg.total_timeout:g} s", retryable=True)
        except httpx.TimeoutException as e:
            return result.fail(f"timeout: {type(e).__name__}", retryable=True)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as e:
            return result.fail(f"invalid url: {e}")
        except httpx.TransportError as e:
            return result.fail(f"connection error: {type(e).__name__}", retryable=True)
        except zlib.error as e:
            return result.fail(f"bad content encoding: {e}")

    async def _get(self, url: str, result: FetchResult, html_only: bool, max_bytes: int) -> str | None:
        """One request; fills ``result``; returns the Location to follow, or None when done."""
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise httpx.UnsupportedProtocol(f"not an http(s) URL: {url}")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        ip = await self.guard.resolve(parsed.host, port)
        host_header = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
        if parsed.port is not None:
            host_header = f"{host_header}:{parsed.port}"
        headers = {
            "Host": host_header, "User-Agent": self.cfg.agent,
            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5", "Accept-Encoding": "gzip, deflate",
        }  # fmt: skip
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        request = self.client.build_request("GET", parsed.copy_with(host=ip), headers=headers, extensions=extensions)
        result.ip, result.final_url = ip, url
        result.request_headers = list(headers.items())
        response = await self.client.send(request, stream=True)
        try:
            result.status, result.status_text = response.status_code, response.reason_phrase
            result.headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in TRANSFER_HEADERS]
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                return response.headers["location"]
            if response.status_code in RETRY_STATUSES:
                result.retry_after = parse_retry_after(response.headers.get("retry-after"))
                result.fail(f"HTTP {response.status_code}", retryable=True)
                return None
            if not 200 <= response.status_code < 300:
                result.fail(f"HTTP {response.status_code}")
                return None
            await self._read_body(response, result, html_only, max_bytes)
            return None
        finally:
            await response.aclose()

    async def _read_body(self, response: httpx.Response, result: FetchResult, html_only: bool, max_bytes: int) -> None:
        content_type = response.headers.get("content-type")
        result.content_type = content_type
        mime = (content_type or "").split(";")[0].strip().lower()
        if html_only and mime and mime not in self.cfg.html_types:
            result.fail(f"content type {mime}", outcome="skipped")
            return
        try:
            decoder = _BodyDecoder(response.headers.get("content-encoding"))
        except ValueError as e:
            result.fail(str(e))
            return
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += decoder.feed(chunk, max_bytes + 1 - len(body))
            if len(body) > max_bytes:
                del body[max_bytes:]
                result.truncated = True
                break
        if html_only and not mime and not looks_like_html(bytes(body[:1024])):
            result.fail("content type missing and body is not HTML", outcome="skipped")
            return
        result.body = bytes(body)
        result.outcome, result.reason = "fetched", None


def looks_like_html(head: bytes) -> bool:
    head = head.lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--")) or b"<html" in head


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
