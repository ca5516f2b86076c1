"""Extraction quality and speed: each extractor's text against a reference text of every page.

The metric is ScrapingHub's article-extraction-benchmark one, on words: per page, precision and
recall of the multiset of lower-cased ``\\w+`` tokens of the extracted text against the
reference's, averaged over pages; F1 from the averages. The reference is either an answer key
(``--truth``: ScrapingHub's ``ground-truth.json``, ``{page id: {"articleBody": …}}``, page id =
the ``.html.gz`` file name's stem) or, without one, trafilatura's own output (then trafilatura
scores 1.0 by construction and the others' figures are agreement with it, not accuracy). Pages
are decoded as ``gptkit data extract`` decodes them; the speed is extraction alone (CPU time,
pages already decoded in memory, best of ``--repeat``).

    .venv/bin/python benchmarks/bench_extract_quality.py
    .venv/bin/python benchmarks/bench_extract_quality.py --truth article-extraction-benchmark/ground-truth.json
    .venv/bin/python benchmarks/bench_extract_quality.py --truth … --split odd   # held out (tune on even)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from gptkit.data.extract.extractors import EXTRACTORS, decode_html, get_extractor  # noqa: E402

DEFAULT_PAGES = (
    Path(__file__).resolve().parents[1].parent / "shared/data/web/article-extraction-benchmark/html"
)
_WORD = re.compile(r"\w+")


def precision_recall(got: str, want: str) -> tuple[float, float]:
    g, w = Counter(_WORD.findall(got.lower())), Counter(_WORD.findall(want.lower()))
    common = sum((g & w).values())
    return common / max(sum(g.values()), 1), common / max(sum(w.values()), 1)


def trafilatura_fast(html: str) -> tuple[str, None]:
    """trafilatura without its fallback extractors (``fast=True``): a candidate fast path."""
    import trafilatura

    return trafilatura.extract(html, favor_precision=True, include_comments=False, fast=True) or "", None


def timed_texts(fn, htmls: list[str], repeat: int) -> tuple[list[str], float]:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        texts = [fn(h)[0] for h in htmls]
        best = min(best, time.process_time() - t)
    return texts, len(htmls) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=Path, default=DEFAULT_PAGES, help="directory of .html.gz pages")
    ap.add_argument(
        "--truth", type=Path, help="ScrapingHub ground-truth.json (default: trafilatura's output)"
    )
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--split", choices=("all", "even", "odd"), default="all",
                    help="pages by position in file-name order: even = tuning set, odd = held out")
    ap.add_argument("--extractors", help="comma-separated names (default: all, plus 'trafilatura fast')")
    args = ap.parse_args()

    files = sorted(args.pages.glob("*.html.gz"))
    files = files[{"all": slice(None), "even": slice(0, None, 2), "odd": slice(1, None, 2)}[args.split]]
    htmls = [decode_html(gzip.decompress(p.read_bytes()))[0] for p in files]
    extractors = {name: get_extractor(name) for name in EXTRACTORS} | {"trafilatura fast": trafilatura_fast}
    if args.extractors:
        extractors = {name: extractors[name] for name in args.extractors.split(",")}
    outputs = {name: timed_texts(fn, htmls, args.repeat) for name, fn in extractors.items()}
    if args.truth:
        truth = json.loads(args.truth.read_text())
        reference = [truth[p.name.removesuffix(".html.gz")]["articleBody"] for p in files]
        source = f"answer key {args.truth.name}"
    else:
        trafilatura = outputs.get("trafilatura") or timed_texts(get_extractor("trafilatura"), htmls, 1)
        reference, source = trafilatura[0], "trafilatura's output (agreement, not accuracy)"
    print(f"{len(files)} pages ({args.split}); reference: {source}; speed: CPU time, best of {args.repeat}")
    print(f"{'extractor':<20} {'precision':>9} {'recall':>7} {'F1':>6} {'pages/s':>8}")
    for name, (texts, speed) in outputs.items():
        pr = [precision_recall(t, r) for t, r in zip(texts, reference, strict=True)]
        p, r = sum(x for x, _ in pr) / len(pr), sum(y for _, y in pr) / len(pr)
        print(f"{name:<20} {p:>9.3f} {r:>7.3f} {2 * p * r / (p + r):>6.3f} {speed:>8.0f}")


if __name__ == "__main__":
    main()
