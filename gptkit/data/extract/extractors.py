"""Main-content extractors and HTML decoding.

An extractor takes an HTML string and returns ``(text, title)``. All three are library calls:

- ``resiliparse-precise`` (the default): Resiliparse's ``extract_plain_text(main_content=True)``
  without comment sections, post metadata and alt texts, skipping the ``PRECISE_SKIP`` elements
  (headline, headers, captions, dates, cookie/newsletter/share boxes, …) unless that loses half
  the text: near trafilatura's accuracy on the ScrapingHub benchmark at several times its speed
  (docs/benchmarks.md);
- ``resiliparse``: plain ``extract_plain_text(main_content=True)``, about twice as fast, keeping
  captions, headlines and bylines (recall 0.99, precision 0.84 against the benchmark's key);
- ``trafilatura``: ``trafilatura.extract(favor_precision=True, include_comments=False)``
  (FineWeb's choice).
"""

from __future__ import annotations

import codecs
import html as html_lib
import re
from collections.abc import Callable

Extractor = Callable[[str], tuple[str, str | None]]
EXTRACTORS = ("resiliparse-precise", "resiliparse", "trafilatura")

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)

#: Elements around an article's text that Resiliparse's main-content heuristic keeps: headline,
#: headers and footers, captions and photo credits, dates, cookie, newsletter, share and "popular"
#: boxes, author bios. Each was chosen because, on the even-numbered pages of the ScrapingHub
#: benchmark, skipping it raised precision and left recall of the answer key's words all but
#: unchanged (0.9875 → 0.9868 for the whole list; ``bench_extract_quality.py --split even``).
PRECISE_SKIP = (
    "h1", "header", "footer", "[class*=caption]", "[class*=cookie]", "[id*=cookie]", "[class*=newsletter]",
    "[class*=date]", "[class*=time]", "[class*=title]", "[class*=photo]", "[class*=gallery]", "[class*=credit]",
    "[class*=copyright]", "[class*=print]", "[class*=share]", "[class*=popular]", "[class*=footer]",
    "[class*=bio]", "[class*=about]", "[class*=cta]", "[class*=disclosure]", "[class*=sr-only]",
)  # fmt: skip
#: Below this share of the main content's text without skipping, a skip selector has hit a block
#: that wraps the article itself (``<header>``, ``class="…title…"``): the page is kept unskipped.
MIN_KEPT_SHARE = 0.5


def _resiliparse(precise: bool = False) -> Extractor:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    options = dict(main_content=True, comments=False, post_meta=False, alt_texts=False) if precise else {}

    def extract(html: str) -> tuple[str, str | None]:
        tree = HTMLTree.parse(html)
        title = (tree.title or "").strip() or None
        if not precise:
            return extract_plain_text(tree, main_content=True), title
        text = extract_plain_text(tree, skip_elements=list(PRECISE_SKIP), **options)
        unskipped = extract_plain_text(tree, **options)
        return (text if len(text) >= MIN_KEPT_SHARE * len(unskipped) else unskipped), title

    return extract


def _trafilatura() -> Extractor:
    import trafilatura

    def extract(html: str) -> tuple[str, str | None]:
        text = trafilatura.extract(html, favor_precision=True, include_comments=False)
        return text or "", title_of(html)

    return extract


_FACTORIES = {"resiliparse-precise": lambda: _resiliparse(precise=True), "resiliparse": _resiliparse,
              "trafilatura": _trafilatura}
_cache: dict[str, Extractor] = {}


def get_extractor(name: str) -> Extractor:
    """The extractor called ``name`` (created once per process)."""
    if name not in _cache:
        _cache[name] = _FACTORIES[name]()
    return _cache[name]


def title_of(html: str) -> str | None:
    m = _TITLE.search(html, 0, 200_000)
    if m is None:
        return None
    return " ".join(html_lib.unescape(m.group(1)).split()) or None


def declared_charset(content_type: str | None) -> str | None:
    """The charset named in a Content-Type header, if Python knows it (else None)."""
    if not content_type:
        return None
    m = _CHARSET.search(content_type)
    if m is None:
        return None
    try:
        return codecs.lookup(m.group(1)).name
    except LookupError:
        return None


#: Control characters that do not occur in text (tab, newlines, form feed and escape do).
_CONTROL = bytes(sorted(set(range(32)) - {9, 10, 12, 13, 27}))


def looks_binary(data: bytes) -> bool:
    """Not a text page: in the first 8 KB a NUL byte (without a UTF-16/32 byte order mark) or
    more than 10 % control characters. Catches images, archives and random bytes named .html."""
    head = data[:8192]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return False
    return b"\0" in head or len(head.translate(None, _CONTROL)) < 0.9 * len(head)


def decode_html(data: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode HTML bytes: the HTTP charset if valid and it decodes, else the ``<meta>`` charset,
    else detection (uchardet); undecodable bytes never fail. Returns ``(text, encoding)``."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    encoding = declared_charset(content_type)
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    encoding = detect_encoding(data, from_html_meta=True) or "utf-8"
    return bytes_to_str(data, encoding, errors="replace"), encoding
