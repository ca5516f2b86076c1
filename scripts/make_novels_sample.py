"""Build gptkit/samples/gutenberg-novels.jsonl.gz from NLTK's Project Gutenberg selection.

The quickstart evaluates LAMBADA, which is narrative fiction; web pages and Wikipedia alone teach a
small model little about it. These public-domain novels (NLTK's `corpora/gutenberg`, Gutenberg
headers already removed) are cut into sections of about 8 kB at paragraph breaks, so each becomes
one page of the sample site, and their hard-wrapped lines are joined into one line per paragraph:

    python scripts/make_novels_sample.py DIR_WITH_NLTK_GUTENBERG_TXT_FILES
"""

import gzip
import io
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "gptkit" / "samples" / "gutenberg-novels.jsonl.gz"
NOVELS = ("austen-emma", "austen-persuasion", "austen-sense", "chesterton-ball", "chesterton-brown",
          "chesterton-thursday", "melville-moby_dick")  # fmt: skip
SECTION_CHARS = 8000


def paragraphs(text: str) -> list[str]:
    """One line per paragraph: Gutenberg wraps lines at ~70 characters and leaves double spaces."""
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    return [re.sub(r"\s+", " ", block).strip() for block in blocks if block.strip()]


def sections(paras: list[str]) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for para in paras:
        if sum(map(len, out[-1])) >= SECTION_CHARS:
            out.append([])
        out[-1].append(para)
    return out


def main(source_dir: str) -> None:
    count = 0
    with gzip.GzipFile(OUT, "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8") as f:
        for name in NOVELS:
            paras = paragraphs((Path(source_dir) / f"{name}.txt").read_text(encoding="latin-1"))
            book = paras.pop(0).strip("[]")  # "[Emma by Jane Austen 1816]"
            for i, body in enumerate(sections(paras)):
                title = f"{book}, part {i + 1}"
                doc = {"id": f"gutenberg-{name}-{i:03d}", "text": "\n".join([title, *body]),
                       "metadata": {"title": title, "source": f"NLTK gutenberg/{name}.txt"}}  # fmt: skip
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
                count += 1
    print(f"{count} sections of {len(NOVELS)} novels → {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
