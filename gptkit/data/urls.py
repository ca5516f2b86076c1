"""URL sources → one canonical, deduplicated, filtered URL list (the WebText recipe).

Inputs are read line by line, whatever the compression (``.zst``, ``.gz``, ``.xz``, ``.bz2`` or
plain): a line holding a JSON object is a record with a ``url`` field (a JSONL URL list, or a
Pushshift Reddit submission dump such as ``RS_2017-01.zst``); any other non-empty line that
does not start with ``#`` is a URL. Records that carry a ``score`` (Reddit submissions) are
*scored*: self posts are dropped and the scores of all submissions of a URL are summed, and the
URL is kept when the sum reaches ``min_score`` (OpenWebText2's rule; WebText used ≥ 3 karma).
URLs from plain lists carry no score and are kept.

Every URL is canonicalised (:func:`canonicalize`), then dropped when its domain or file
extension is excluded; every drop is counted by reason.

Python API::

    from gptkit.data.urls import UrlsConfig, collect_urls
    summary = collect_urls(UrlsConfig(inputs=["RS_2005-07.xz"], out="runs/w/urls"))
    summary["counts"]   # {"records": …, "kept": …, "excluded domain": …, …}

The output directory holds ``urls.jsonl`` (``{"url", "score", "submissions"}`` per line, in
first-seen order), ``manifest.json`` and ``config.toml``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import orjson
from w3lib.url import canonicalize_url

from gptkit.config import dump_toml, to_dict
from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_path
from gptkit.io.manifest import Manifest, file_record, input_records
from gptkit.io.shards import Issue, IssueLog, expand_inputs, iter_lines
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageRun, Summary, check_inputs, identity

URLS_FILE = "urls.jsonl"

#: Domains excluded by default (subdomains too), after OpenWebText2's list: Reddit itself,
#: image/video/social hosts whose pages carry little text, and Wikipedia (WebText removed it).
DEFAULT_EXCLUDE_DOMAINS = [
    "reddit.com", "redd.it", "redditmedia.com", "imgur.com", "gfycat.com", "giphy.com",
    "youtube.com", "youtu.be", "vimeo.com", "streamable.com", "twitch.tv", "liveleak.com",
    "twitter.com", "x.com", "facebook.com", "instagram.com", "flickr.com", "tumblr.com",
    "pinterest.com", "wikipedia.org", "wikimedia.org", "wikia.com", "fandom.com",
    "amazon.com", "ebay.com", "soundcloud.com", "spotify.com", "photobucket.com", "tinypic.com",
]  # fmt: skip

#: File extensions excluded by default: images, audio, video, archives, documents, binaries.
DEFAULT_EXCLUDE_EXTENSIONS = [
    ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".svg", ".tif", ".tiff", ".ico",
    ".mp4", ".webm", ".mov", ".avi", ".mkv", ".flv", ".wmv", ".m4v", ".mp3", ".wav", ".ogg",
    ".flac", ".m4a", ".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".exe",
    ".dmg", ".iso", ".apk", ".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".swf",
]  # fmt: skip

#: Query parameters that only track the visitor; dropped by canonicalisation.
DEFAULT_TRACKING_PARAMS = [
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_name",
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid", "_ga",
    "ref_src", "spm",
]  # fmt: skip

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class UrlsConfig:
    inputs: list[Path] = field(default_factory=list)
    out: Path | None = None
    min_score: int = 3
    exclude_domains: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE_DOMAINS))
    exclude_extensions: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE_EXTENSIONS))
    tracking_params: list[str] = field(default_factory=lambda: list(DEFAULT_TRACKING_PARAMS))


def canonicalize(url: str, tracking_params: frozenset[str] = frozenset(DEFAULT_TRACKING_PARAMS)) -> str | None:
    """The canonical form of an http(s) URL, or None when it is not a valid one.

    w3lib's ``canonicalize_url`` (Scrapy's) sorts the query, resolves ``.``/``..`` segments,
    normalises percent-escapes, writes IDN hosts as punycode and drops the fragment; on top of it
    a default port, a trailing dot in the host and tracking parameters (``utm_*`` and
    ``tracking_params``) are dropped, and an empty path is written ``/``.
    """
    url = url.strip()
    if not _is_http_url(url):
        return None
    try:
        parts = urlsplit(canonicalize_url(url, keep_blank_values=True))
        port = parts.port
    except (ValueError, UnicodeError):
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    query = "&".join(
        pair for pair in parts.query.split("&")
        if pair and (key := pair.split("=", 1)[0]) not in tracking_params and not key.startswith("utm_")
    )  # fmt: skip
    return urlunsplit((parts.scheme, netloc, parts.path or "/", query, ""))


def _is_http_url(url: str) -> bool:
    """An http(s) URL with a host, a valid port and no whitespace (w3lib would 'fix' the rest)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname) and not any(c.isspace() for c in url)


def domain_matches(host: str, domains: frozenset[str]) -> str | None:
    """The entry of ``domains`` that ``host`` is, or is a subdomain of; None if none."""
    labels = host.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in domains:
            return candidate
    return None


@dataclass
class _Entry:
    score: int | None  # None: only seen in unscored lists
    submissions: int


class UrlFilter:
    """Canonicalise one URL and say why it is excluded (None when kept)."""

    def __init__(self, cfg: UrlsConfig):
        self.domains = frozenset(d.lower().lstrip(".") for d in cfg.exclude_domains)
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in cfg.exclude_extensions)
        self.tracking = frozenset(cfg.tracking_params)

    def __call__(self, url: str) -> tuple[str | None, str | None]:
        canon = canonicalize(url, self.tracking)
        if canon is None:
            return None, "invalid url"
        parts = urlsplit(canon)
        if domain_matches(parts.hostname or "", self.domains):
            return canon, "excluded domain"
        if parts.path.lower().endswith(self.extensions):
            return canon, "excluded extension"
        return canon, None


def iter_url_records(path: Path, on_issue: IssueLog) -> Iterator[tuple[str, int | None, bool]]:
    """Yield ``(url, score_or_None, is_self)`` for each record of one input file."""
    for line_no, raw in iter_lines(path, on_issue):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        if not line.startswith(b"{"):
            yield line.decode("utf-8", errors="replace"), None, False
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            on_issue(Issue(str(path), line_no, f"invalid JSON: {e}"))
            continue
        url = obj.get("url") if isinstance(obj, dict) else None
        if not isinstance(url, str) or not url:
            on_issue(Issue(str(path), line_no, "no 'url' field"))
            continue
        score = obj.get("score")
        score = int(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
        yield url, score, bool(obj.get("is_self"))


def collect_urls(cfg: UrlsConfig, reporter: Reporter = NULL_REPORTER) -> Summary:
    """Read every input, write ``urls.jsonl`` + manifest into ``cfg.out``; return the summary."""
    if cfg.out is None:
        raise UsageError("no output directory (--out)")
    if not cfg.inputs:
        raise UsageError("no input files")
    out = Path(cfg.out)
    paths = expand_inputs(cfg.inputs)
    check_inputs(paths)
    config = to_dict(cfg)
    run = StageRun("urls", out, identity(config), input_records(paths))
    if (done := run.reuse()) is not None:
        return Summary.recorded(out, done, "excluded_domains", "issues")

    started = time.time()
    keep = UrlFilter(cfg)
    counts: Counter = Counter()
    excluded_domains: Counter = Counter()
    issues = IssueLog(on_issue=lambda i: reporter.warn(str(i)))
    urls: dict[str, _Entry] = {}
    with reporter.task("urls: reading", total=len(paths), unit="files") as task:
        for path in paths:
            for url, score, is_self in iter_url_records(path, issues):
                counts["records"] += 1
                if score is not None and is_self:
                    counts["self post"] += 1
                    continue
                canon, reason = keep(url)
                if reason is not None:
                    counts[reason] += 1
                    if reason == "excluded domain":
                        excluded_domains[domain_matches(urlsplit(canon).hostname or "", keep.domains)] += 1
                    continue
                entry = urls.get(canon)
                if entry is None:
                    urls[canon] = _Entry(score, 1)
                    continue
                counts["duplicate"] += 1
                entry.submissions += 1
                if score is not None:
                    entry.score = (entry.score or 0) + score
            task.advance()

    run.begin()
    kept = 0
    with atomic_path(out / URLS_FILE) as tmp, open(tmp, "wb") as f:
        for url, entry in urls.items():
            if entry.score is not None and entry.score < cfg.min_score:
                counts["below min score"] += 1
                continue
            f.write(orjson.dumps({"url": url, "score": entry.score, "submissions": entry.submissions}) + b"\n")
            kept += 1
    counts["unique urls"] = len(urls)
    counts["kept"] = kept
    counts["bad records"] = issues.total
    details = {"excluded_domains": dict(excluded_domains.most_common(50)), "issues": issues.to_json()}
    dump_toml({"urls": cfg}, out / "config.toml")
    run.finish(Manifest(
        stage="urls", config=config, inputs=run.inputs,
        outputs=[file_record(out / URLS_FILE, out, urls=kept)], counts=dict(counts),
        timings={"total_s": round(time.time() - started, 3)}, extra=details,
    ))  # fmt: skip
    return Summary(str(out), dict(counts), details)


def read_url_list(paths: list[Path], on_issue: IssueLog) -> list[str]:
    """URLs from ``data urls`` output dirs, text lists or JSONL files, first-seen order, deduplicated."""
    seen: dict[str, None] = {}
    for path in paths:
        for url, _, _ in iter_url_records(path, on_issue):
            seen.setdefault(url.strip(), None)
    return list(seen)
