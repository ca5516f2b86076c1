"""``gptkit data extract``: WARC / WET / HTML / JSONL pages → main text as document shards.

Inputs: WARC and WARC.gz files (ours, Common Crawl's, wget's with ``<…>``-wrapped target URIs),
WET files (text kept as is), directories of ``.html`` / ``.html.gz`` files, JSONL with an
``html`` field, and ``gptkit data crawl`` output directories (their WARC files). Pages are
decoded (HTTP charset, else ``<meta>``, else detection) and their main content extracted with
Resiliparse tuned for precision (default), plain Resiliparse or trafilatura. Each task (one input
file, or a run of loose HTML files of about equal bytes) writes one shard ``NNNNN.jsonl.zst`` of
``{"id", "text", "metadata": {"url", "title", "warc_record_id", "fetch_time", "extractor",
"charset", "source"}}``; tasks run on ``workers`` processes and a rerun skips finished ones.
Corrupt or truncated WARC/gzip data is reported with file and byte offset and the rest of the
file is still read.

Python API::

    from gptkit.data.extract import ExtractConfig, extract
    summary = extract(ExtractConfig(inputs=["runs/w/crawl"], out="runs/w/docs", workers=2))
    summary["counts"]   # {"pages": …, "documents": …, "empty": …, "not HTML": …, …}
"""

from gptkit.data.extract.extractors import EXTRACTORS, decode_html, get_extractor
from gptkit.data.extract.runner import ExtractConfig, extract, run_extract_task

__all__ = ["EXTRACTORS", "ExtractConfig", "decode_html", "extract", "get_extractor", "run_extract_task"]
