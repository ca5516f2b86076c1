"""`gptkit data urls`: canonical URLs, Reddit scores summed per URL, exclusions counted by reason."""

from __future__ import annotations

import gzip
import json
import lzma
from collections import defaultdict

import orjson
import pytest
import zstandard
from conftest import assert_one_line_error, run_gptkit, shared_path

from gptkit.data.urls import UrlsConfig, canonicalize, collect_urls
from gptkit.io.manifest import read_manifest


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTP://Example.COM:80/a?b=1#frag", "http://example.com/a?b=1"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://ex.com/p?utm_source=rss&id=7&fbclid=zz&utm_medium=x", "https://ex.com/p?id=7"),
        ("  http://ex.com/keep?a=1&b=2  ", "http://ex.com/keep?a=1&b=2"),
        ("ftp://ex.com/file", None),
        ("http://", None),
        ("not a url", None),
        ("http://ex.com:99999/", None),
        # the same page however its query is ordered, its path spelt or its host written
        ("http://ex.com/keep?b=2&a=1", "http://ex.com/keep?a=1&b=2"),
        ("http://ex.com/a/../x/./y", "http://ex.com/x/y"),
        ("http://ex.com/%7euser/caf%C3%A9", "http://ex.com/~user/caf%C3%A9"),
        ("http://ex.com/café", "http://ex.com/caf%C3%A9"),
        ("https://BÜCHER.de./p", "https://xn--bcher-kva.de/p"),
        ("http://ex.com/p?a=&b=1&utm_x=2", "http://ex.com/p?a=&b=1"),
    ],
)
def test_canonicalize(raw, canonical):
    assert canonicalize(raw) == canonical


def submission(url, score, is_self=False, **extra):
    return {"url": url, "score": score, "is_self": is_self, "domain": "x", "subreddit": "s", **extra}


def test_scores_summed_over_dumps_and_compressions(tmp_path):
    rows_a = [
        submission("http://news.example.org/story#top", 2),
        submission("http://NEWS.example.org/story?utm_source=reddit", 1),  # same URL: 2 + 1 = 3 → kept
        submission("https://blog.example.net/lonely", 2),  # 2 < 3 → dropped
        submission("https://self.example/x", 50, is_self=True),  # self post
        submission("https://i.imgur.com/cat.png", 99),  # excluded domain
        submission("https://en.wikipedia.org/wiki/GPT", 10),  # WebText removed Wikipedia
        submission("https://files.example.com/paper.PDF", 10),  # excluded extension
    ]
    rows_b = [submission("https://blog.example.net/lonely", 1), submission("mailto:x@y", 5)]
    lines_a = b"".join(orjson.dumps(r) + b"\n" for r in rows_a)
    (tmp_path / "RS_a.zst").write_bytes(zstandard.ZstdCompressor().compress(lines_a))
    (tmp_path / "RS_b.gz").write_bytes(gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in rows_b) + b"{broken\n"))
    (tmp_path / "list.txt").write_text("# my list\nhttps://plain.example/a\nhttps://plain.example/a#dup\n")
    (tmp_path / "list.jsonl.xz").write_bytes(lzma.compress(b'{"url": "https://jsonl.example/b"}\n'))

    summary = collect_urls(UrlsConfig(inputs=[tmp_path / n for n in ("RS_a.zst", "RS_b.gz", "list.txt", "list.jsonl.xz")],
                                      out=tmp_path / "out"))  # fmt: skip
    kept = [json.loads(line) for line in (tmp_path / "out" / "urls.jsonl").read_text().splitlines()]
    assert {k["url"]: k["score"] for k in kept} == {
        "http://news.example.org/story": 3,
        "https://blog.example.net/lonely": 3,  # 2 in one dump + 1 in another
        "https://plain.example/a": None,
        "https://jsonl.example/b": None,
    }
    c = summary.counts
    assert c["self post"] == 1 and c["excluded domain"] == 2 and c["excluded extension"] == 1
    assert c["invalid url"] == 1 and c["bad records"] == 1 and c["kept"] == 4
    assert summary.details["excluded_domains"] == {"imgur.com": 1, "wikipedia.org": 1}
    manifest = read_manifest(tmp_path / "out")
    assert manifest["stage"] == "urls" and manifest["outputs"][0]["urls"] == 4
    assert (tmp_path / "out" / "config.toml").is_file()


def test_real_pushshift_dumps_match_an_independent_count(tmp_path):
    folder = shared_path("corpora/reddit-pushshift")
    summary = collect_urls(UrlsConfig(inputs=[folder], out=tmp_path / "out", exclude_domains=[], exclude_extensions=[]))
    scores: dict[str, int] = defaultdict(int)
    for path in sorted(folder.iterdir()):
        for line in lzma.decompress(path.read_bytes()).splitlines():
            row = json.loads(line)
            if not row["is_self"] and canonicalize(row["url"]):
                scores[canonicalize(row["url"])] += row["score"]
    expected = {u for u, s in scores.items() if s >= 3}
    kept = {json.loads(line)["url"] for line in (tmp_path / "out" / "urls.jsonl").read_text().splitlines()}
    assert kept == expected and len(kept) > 700
    assert summary.counts["records"] == 103 + 1079  # SOURCES.md: submissions per dump


def test_cli_and_rerun_is_skipped(tmp_path):
    folder = shared_path("corpora/reddit-pushshift")
    proc = run_gptkit("data", "urls", str(folder), "--out", str(tmp_path / "u"), "--min-score", "10",
                      "--keep-domain", "wikipedia.org", "--exclude-domain", "nytimes.com")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "kept" in proc.stdout and "nytimes.com" in proc.stdout
    urls = [json.loads(line) for line in (tmp_path / "u" / "urls.jsonl").read_text().splitlines()]
    assert urls and all(u["score"] >= 10 and "nytimes.com" not in u["url"] for u in urls)
    again = run_gptkit("data", "urls", str(folder), "--out", str(tmp_path / "u"), "--min-score", "10",
                       "--keep-domain", "wikipedia.org", "--exclude-domain", "nytimes.com")  # fmt: skip
    assert again.returncode == 0 and "already complete" in again.stderr
    assert again.stdout == proc.stdout  # the reused output's counts, as the first run showed them
    assert_one_line_error(run_gptkit("data", "urls", str(tmp_path / "nope.zst"), "--out", str(tmp_path / "v")), "nope.zst")
