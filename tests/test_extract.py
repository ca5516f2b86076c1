"""`gptkit data extract`: real WARC/WET/HTML samples, charsets, damaged inputs, resume, workers."""

from __future__ import annotations

import gzip
import os
import shutil

import orjson
import pytest
from conftest import assert_one_line_error, run_gptkit, shared_path

from gptkit.data.extract import ExtractConfig, decode_html, extract
from gptkit.errors import UsageError
from gptkit.io.manifest import read_manifest, verify
from gptkit.io.shards import IssueLog, iter_documents
from gptkit.io.warc import RotatingWarcWriter, iter_warc

CAFE = "<html><head><title>Caf\u00e9</title></head><body><article><p>Un caf\u00e9 cr\u00e8me, s'il vous pla\u00eet, avec une tarte.</p></article></body></html>"


def docs_of(out) -> list[dict]:
    return [d for p in sorted(out.glob("*.jsonl.zst")) for d in iter_documents(p)]


def write_warc(path_dir, pages: list[tuple[str, bytes, str]]) -> None:
    """A WARC the way `data crawl` writes it: (url, body, content type) per page."""
    w = RotatingWarcWriter(path_dir, "crawl")
    for url, body, ctype in pages:
        w.write_exchange(url, "GET / HTTP/1.1", [("Host", "x")], "200 OK", [("Content-Type", ctype)], body,
                         {"WARC-Date": "2024-01-02T03:04:05Z"})  # fmt: skip
    w.finish()


def test_dolma_warcs_with_bracketed_uris(tmp_path):
    folder = shared_path("web/dolma-warc")
    summary = extract(ExtractConfig(inputs=[folder], out=tmp_path / "out"))
    docs = docs_of(tmp_path / "out")
    assert len(docs) == summary.counts["documents"] > 30
    for d in docs:
        m = d["metadata"]
        assert m["url"].startswith("https://") and "<" not in m["url"]
        assert d["id"] == m["warc_record_id"] and m["warc_record_id"].startswith("urn:uuid:")
        assert m["fetch_time"].startswith("2024-04-25") and m["extractor"] == "resiliparse-precise"
    weld = next(d for d in docs if d["metadata"]["url"].endswith("/faculty/weld"))
    assert weld["metadata"]["title"].startswith("Dan Weld") and "Artificial intelligence" in weld["text"]
    manifest = read_manifest(tmp_path / "out")
    assert manifest["stage"] == "extract" and len(manifest["inputs"]) == 2 and not verify(tmp_path / "out")


def test_common_crawl_warc_and_wet(tmp_path):
    folder = shared_path("web/commoncrawl-whirlwind")
    extract(ExtractConfig(inputs=[folder / "whirlwind.warc.gz", folder / "whirlwind.warc.wet.gz"], out=tmp_path / "o"))
    docs = {d["metadata"]["extractor"]: d for d in docs_of(tmp_path / "o")}
    html = docs["resiliparse-precise"]
    assert set(docs) == {"resiliparse-precise", "wet"}
    assert docs["wet"]["metadata"]["url"] == html["metadata"]["url"] == "https://an.wikipedia.org/wiki/Escopete"
    assert "Escopete" in docs["wet"]["text"] and "Escopete" in html["text"]
    assert len(html["text"]) < len(docs["wet"]["text"])  # main content only, no menus


def test_html_dir_every_extractor(tmp_path):
    src = shared_path("web/html-pages")
    pages = sorted(src.glob("*.html.gz"))[:12]
    (tmp_path / "html").mkdir()
    for p in pages:
        shutil.copy(p, tmp_path / "html" / p.name)
    for name in ("resiliparse-precise", "resiliparse", "trafilatura"):
        summary = extract(ExtractConfig(inputs=[tmp_path / "html"], out=tmp_path / name, extractor=name))
        docs = docs_of(tmp_path / name)
        assert summary.counts["pages"] == 12 and len(docs) >= 11
        assert all(d["metadata"]["extractor"] == name and d["metadata"]["title"] for d in docs)
        assert {d["id"] for d in docs} <= {p.name.split(".")[0] for p in pages}
        assert sum(len(d["text"]) for d in docs) > 12 * 500


def test_charsets_and_jsonl_input(tmp_path):
    cp1252 = CAFE.encode("cp1252")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "latin.html").write_bytes(cp1252)  # no charset declared anywhere
    (tmp_path / "in" / "utf8.html.gz").write_bytes(gzip.compress(CAFE.encode("utf-8")))
    (tmp_path / "in" / "broken.html.gz").write_bytes(gzip.compress(CAFE.encode("utf-8") * 50)[:60])
    (tmp_path / "in" / "pages.jsonl").write_bytes(
        orjson.dumps({"id": "j1", "url": "https://j.example/", "html": CAFE}) + b"\n" + b'{"id": "j2", "nohtml": 1}\n'
    )
    write_warc(tmp_path / "in" / "w", [("https://w.example/bogus", cp1252, "text/html; charset=no-such-charset"),
                                       ("https://w.example/lying", cp1252, "text/html; charset=utf-8"),
                                       ("https://w.example/pic", b"\x89PNG", "image/png")])  # fmt: skip
    summary = extract(ExtractConfig(inputs=[tmp_path / "in"], out=tmp_path / "out"))
    docs = {d["metadata"].get("url") or d["id"]: d for d in docs_of(tmp_path / "out")}
    assert set(docs) == {"latin", "utf8", "https://j.example/", "https://w.example/bogus", "https://w.example/lying"}
    for d in docs.values():
        assert "caf\u00e9 cr\u00e8me" in d["text"], d
    assert docs["https://j.example/"]["id"] == "j1" and docs["https://j.example/"]["metadata"]["title"] == "Caf\u00e9"
    assert summary.counts["not HTML"] == 1 and summary.counts["bad input"] == 2
    assert any("pages.jsonl:2" in e for e in summary.details["issue_examples"])
    assert any("broken.html.gz: corrupt or truncated" in e for e in summary.details["issue_examples"])
    assert decode_html(b"\xff\xfe\x00garbage \x80\x81", "text/html; charset=utf-8")[0]  # never raises


def test_corrupt_and_truncated_warc_reported_with_offset_rest_kept(tmp_path):
    original = shared_path("web/dolma-warc/sample-0000.warc.gz")
    data = original.read_bytes()
    good = list(iter_warc(original, IssueLog()))
    middle = good[len(good) // 2].offset
    corrupt = bytearray(data)
    corrupt[middle + 20 : middle + 60] = b"\0" * 40  # damage one gzip member
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "corrupt.warc.gz").write_bytes(bytes(corrupt))
    (tmp_path / "in" / "truncated.warc.gz").write_bytes(data[: good[-3].offset + 100])
    summary = extract(ExtractConfig(inputs=[tmp_path / "in"], out=tmp_path / "out"))
    examples = summary.details["issue_examples"]
    assert any("corrupt.warc.gz" in e and f"offset {middle}" in e for e in examples), examples
    assert any("truncated.warc.gz" in e and f"offset {good[-3].offset}" in e for e in examples), examples
    urls = [d["metadata"]["url"] for d in docs_of(tmp_path / "out") if d["metadata"]["source"] == "corrupt.warc.gz"]
    expected = [r.url for r in good if r.status == 200 and "html" in (r.content_type or "")]
    assert expected[-1] in urls and expected[0] in urls  # records after the damage are still read
    assert len(expected) - 2 <= len(urls) < len(expected)


def test_resume_per_input_and_workers(tmp_path):
    folder = shared_path("web/dolma-warc")
    out = tmp_path / "out"
    cfg = ExtractConfig(inputs=[folder], out=out, workers=2)
    extract(cfg)
    first = {p.name: p.read_bytes() for p in out.glob("*.jsonl.zst")}
    assert len(first) == 2
    (out / "manifest.json").unlink()
    (out / "completions" / "00001.json").unlink()
    (out / "00001.jsonl.zst").unlink()
    mtime = (out / "00000.jsonl.zst").stat().st_mtime_ns
    summary = extract(cfg)
    assert (out / "00000.jsonl.zst").stat().st_mtime_ns == mtime  # finished task skipped
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl.zst")} == first
    assert summary.counts["documents"] == sum(1 for _ in docs_of(out))
    reused = extract(cfg)
    assert reused.reused and reused.counts == summary.counts  # the finished run's counts

    (out / "manifest.json").unlink()
    with pytest.raises(UsageError, match="other inputs or options"):
        extract(ExtractConfig(inputs=[folder], out=out, extractor="trafilatura"))


def test_cli(tmp_path):
    folder = shared_path("web/warcio")
    proc = run_gptkit("data", "extract", str(folder), "--out", str(tmp_path / "o"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert "documents" in proc.stdout
    assert {d["metadata"]["url"] for d in docs_of(tmp_path / "o")} == {"http://example.com/", "http://www.iana.org/"}
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    assert_one_line_error(run_gptkit("data", "extract", str(tmp_path / "notes.pdf"), "--out", str(tmp_path / "p")), "notes.pdf")
    assert_one_line_error(run_gptkit("data", "extract", str(folder), "--out", str(tmp_path / "q"), "--extractor", "magic"), "magic")


def test_loose_html_is_split_by_bytes_and_the_shards_do_not_depend_on_workers(tmp_path):
    """21.3: a few hundred small pages used to form one task, leaving the second worker idle."""
    from gptkit.data.extract.runner import plan_tasks

    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(30):
        padding = f"<!-- {'x' * 20_000 * (1 + i % 3)} -->"  # 20–60 kB pages
        (pages / f"{i:03d}.html").write_text(CAFE.replace("<body>", f"<body>{padding}<p>Page {i}.</p>"))
    files = sorted(pages.iterdir())
    tasks = plan_tasks(ExtractConfig(inputs=[pages], out=tmp_path / "o", html_bytes_per_task=200_000), files)
    assert len(tasks) > 2 and [f for t in tasks for f in t.files] == [str(f) for f in files]
    assert all(sum(os.path.getsize(f) for f in t.files[:-1]) < 200_000 for t in tasks)
    shards = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        extract(ExtractConfig(inputs=[pages], out=out, workers=workers, html_bytes_per_task=200_000))
        shards[workers] = {p.name: p.read_bytes() for p in sorted(out.glob("*.jsonl.zst"))}
    assert len(shards[1]) == len(tasks) and shards[1] == shards[2]


def test_a_handful_of_pages_gives_two_workers_a_task_each_and_a_rerun_with_other_workers_resumes(tmp_path):
    """21.3: five small pages (well under html_bytes_per_task) used to be one task: with
    ``html_min_tasks`` they are spread out, the plan still independent of ``workers``."""
    from gptkit.data.extract.runner import plan_tasks

    pages = tmp_path / "pages"
    pages.mkdir()
    for i in range(5):
        (pages / f"{i}.html").write_text(CAFE.replace("<body>", f"<body><p>Page {i}: {'mot ' * 50 * (i + 1)}.</p>"))
    files = sorted(pages.iterdir())
    tasks = plan_tasks(ExtractConfig(inputs=[pages], out=tmp_path / "o", workers=2), files)
    assert len(tasks) >= 2 and [f for t in tasks for f in t.files] == [str(f) for f in files]

    out = tmp_path / "o"
    extract(ExtractConfig(inputs=[pages], out=out, workers=2))
    first = {p.name: p.read_bytes() for p in out.glob("*.jsonl.zst")}
    assert len(first) == len(tasks) and len(docs_of(out)) == 5
    (out / "manifest.json").unlink()
    (out / "completions" / "00001.json").unlink()
    (out / "00001.jsonl.zst").unlink()
    extract(ExtractConfig(inputs=[pages], out=out, workers=1))  # another -w resumes, not refused
    assert {p.name: p.read_bytes() for p in out.glob("*.jsonl.zst")} == first


FERRY = """<html><head><title>Ferry</title></head><body>
<header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<main><article><h1>New ferry timetable approved</h1><div class="post-date">12 March 2024</div>
<figure><img src="f.jpg" alt="A ferry"><figcaption class="image-caption">The ferry at dawn. Photo: J. Smith</figcaption></figure>
<p>The harbour authority approved the new ferry timetable on Tuesday, after two years of consultation
with the island councils and a public hearing in every port served by the line.</p>
<p>Boats will leave every forty minutes in summer and every hour in winter, the authority said.</p>
<div class="share-buttons"><a href="#">Share on Facebook</a> <a href="#">Share on Twitter</a></div></article>
<section id="comments" class="comments-area"><h3>2 comments</h3><ol class="comment-list">
<li class="comment"><p>Great news, finally! I have been waiting for this for ages and ages.</p></li>
<li class="comment"><p>About time too, the old timetable was a mess every single winter.</p></li></ol></section>
</main><footer><p>Copyright 2024 Island News. All rights reserved.</p></footer></body></html>"""


def test_precise_extractor_keeps_the_article_and_drops_comments_captions_and_boxes():
    """21.3: the default keeps the article's paragraphs and drops what plain Resiliparse keeps
    around them: headline, date, caption, alt text, reader comments."""
    from gptkit.data.extract import get_extractor

    plain, _ = get_extractor("resiliparse")(FERRY)
    text, title = get_extractor("resiliparse-precise")(FERRY)
    assert title == "Ferry"
    for kept in ("The harbour authority approved", "every forty minutes in summer"):
        assert kept in text and kept in plain
    for dropped in ("Great news, finally", "12 March 2024", "Photo: J. Smith", "A ferry", "Home", "cookies", "Share on"):
        assert dropped not in text, dropped
    assert "Great news, finally" in plain and "Photo: J. Smith" in plain  # what the default removes


def test_precise_extractor_on_real_pages():
    """A blog post loses its byline and date line; a page whose <header> wraps the whole post keeps
    its text (a skip that would drop half of the text is not applied)."""
    from gptkit.data.extract import get_extractor

    def page(name: str) -> str:
        return decode_html(gzip.decompress(shared_path(f"web/html-pages/{name}.html.gz").read_bytes()))[0]

    precise, plain = get_extractor("resiliparse-precise"), get_extractor("resiliparse")
    post = page("creativecommons-org-2024-03-28-cc-joins-civil-society-letter")
    text = precise(post)[0]
    assert "we joined a broad coalition of civil society" in text
    assert "by Creative Commons Policy" in plain(post)[0] and "by Creative Commons Policy" not in text
    assert "Posted 28 March 2024" in plain(post)[0] and "Posted 28 March 2024" not in text
    newsletter = page("commoncrawl-org-blog-march-april-2024-newsletter")
    assert "stable performance on our S3 bucket" in precise(newsletter)[0]
    assert len(precise(newsletter)[0]) > 0.5 * len(plain(newsletter)[0])
