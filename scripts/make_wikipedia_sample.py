"""Build gptkit/samples/wikipedia-articles.jsonl.gz from WikiText-2's raw test split.

WikiText-2 "raw" still has the tokenizer's spacing (`word , word`, `@-@`); this undoes it with a
few rules so the articles read like web text, one document per article:

    python scripts/make_wikipedia_sample.py ../shared/data/corpora/wikitext/wikitext-2-raw.test.hf-rows-nonblank.crlf.raw
"""

import gzip
import io
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "gptkit" / "samples" / "wikipedia-articles.jsonl.gz"


def detokenize(text: str) -> str:
    text = text.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    text = re.sub(r" ([.,;:!?)\]%])", r"\1", text)
    text = re.sub(r"([(\[$]) ", r"\1", text)
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'m|'d)\b", r"\1", text)
    text = re.sub(r'" (.*?) "', r'"\1"', text)
    return text.strip()


def main(source: str) -> None:
    lines = Path(source).read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    articles: list[tuple[str, list[str]]] = []
    for line in lines:
        if m := re.fullmatch(r" = ([^=].*?) = ", line):
            articles.append((detokenize(m.group(1)), []))
        elif articles and line.strip():
            heading = re.fullmatch(r" (=+) (.*?) \1 ", line)
            articles[-1][1].append(detokenize(heading.group(2) if heading else line))
    with gzip.GzipFile(OUT, "wb", mtime=0) as raw, io.TextIOWrapper(raw, encoding="utf-8") as f:
        for i, (title, body) in enumerate(articles):
            doc = {"id": f"wikitext2-test-{i:02d}", "text": "\n".join([title, *body]),
                   "metadata": {"title": title, "source": "WikiText-2 raw test split, detokenised"}}  # fmt: skip
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    print(f"{len(articles)} articles → {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
