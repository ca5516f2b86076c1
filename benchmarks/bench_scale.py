"""Predictable scaling on CPU: sweep small runs, fit L(C) = aC^b + c, predict a run ≥ 10× bigger, train it.

Everything goes through the real CLI, in order:

1. documents: WikiText-103 test and WikiText-2 valid articles (split at their `= Title =` lines) and
   the Dolma CC-BY web pages (shared/data/corpora), as one JSONL corpus;
2. `gptkit tokenizer train` (a small byte-level BPE, so the output layer does not dominate tiny models),
   `gptkit data pack` (5% of the documents held out for the validation loss);
3. `gptkit scale sweep -r recipes/scale/cpu-sweep.toml` (shapes at 20 tokens per parameter);
4. `gptkit scale fit` (power form), then `gptkit scale predict` for the target shape and tokens;
5. the target trained as a one-shape sweep with the same settings, then `gptkit scale check`.

Prints the runs, the law, the prediction and the check; the figures go to docs/benchmarks.md.

    nice .venv/bin/python benchmarks/bench_scale.py --work /tmp/scale-bench
    nice .venv/bin/python benchmarks/bench_scale.py --work /tmp/scale-bench --set scale.train.optim.lr=6e-3
    nice .venv/bin/python benchmarks/bench_scale.py --work /tmp/scale-wsd --set scale.mode=wsd
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from gptkit.config import resolve
from gptkit.scale.config import ScaleConfig
from gptkit.scale.sweep import plan_sweep

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GPTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
WIKI = ["corpora/wikitext/wikitext-103.test.tokens", "corpora/wikitext/wikitext-2.valid.tokens"]
WEB = "corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"
TITLE = re.compile(r"^ = [^=].* = $")


def gptkit(*args: str) -> str:
    """Run the real CLI; stream its progress, return its stdout."""
    cmd = [sys.executable, "-m", "gptkit", *map(str, args)]
    print("$ gptkit " + " ".join(map(str, args)), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    print(proc.stdout, end="", flush=True)
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if proc.returncode:
        sys.exit(proc.returncode)
    return proc.stdout


def write_documents(out: Path) -> int:
    """WikiText articles and Dolma web pages as one JSONL corpus; returns the document count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    docs = []
    for rel in WIKI:
        article: list[str] = []
        for line in (SHARED / rel).read_text(encoding="utf-8").splitlines():
            if TITLE.match(line) and article:
                docs.append("\n".join(article).strip())
                article = []
            article.append(line)
        docs.append("\n".join(article).strip())
    with gzip.open(SHARED / WEB, "rt", encoding="utf-8") as f:
        docs += [json.loads(line)["text"] for line in f if line.strip()]
    docs = [d for d in docs if d]
    with out.open("w", encoding="utf-8") as f:
        for i, text in enumerate(docs):
            f.write(json.dumps({"id": f"doc-{i}", "text": text, "metadata": {}}) + "\n")
    return len(docs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale-bench"))
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "scale" / "cpu-sweep.toml")
    ap.add_argument("--merges", type=int, default=255, help="BPE merges of the tokenizer (vocab = 257 + merges)")
    ap.add_argument("--target", default="4x64", help="shape of the predicted run, LAYERSxWIDTH")
    ap.add_argument("--head-dim", type=int, default=16, help="head size of the target (n_head = width / head_dim)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the sweep recipe for the sweep and the target, e.g. scale.train.optim.lr=6e-3")
    args = ap.parse_args()
    w = args.work
    corpus = w / "docs" / "corpus.jsonl"
    if not corpus.is_file():
        print(f"{write_documents(corpus)} documents → {corpus}")
    gptkit("tokenizer", "train", corpus, "--out", w / "tok", "--merges", args.merges, "--threads", args.threads)
    gptkit("data", "pack", corpus, "--tokenizer", w / "tok", "-o", w / "tokens", "--val-fraction", "0.05", "-w", 1)
    common = ["-r", args.recipe, "-d", w / "tokens", "--threads", args.threads]
    common += [arg for item in args.overrides for arg in ("--set", item)]
    gptkit("scale", "sweep", *common, "-o", w / "sweep")
    gptkit("scale", "fit", w / "sweep", "-o", w / "fit")
    layers, width = (int(x) for x in args.target.split("x"))
    heads = width // args.head_dim
    target = f"[{{n_layer={layers}, n_head={heads}, n_embd={width}}}]"
    one_run = [f"scale.shapes={target}", "scale.cooldowns=[1.0]"]  # in WSD mode: the full-length branch only
    cfg = resolve(ScaleConfig, "scale", recipe=args.recipe, options={"data": w / "tokens"},
                  overrides=[*args.overrides, *one_run])  # fmt: skip
    (planned,), _ = plan_sweep(cfg)
    shape = f"n_layer={layers},n_embd={width},n_head={heads}"  # LAYERSxWIDTH would take the sweep's head size
    gptkit("scale", "predict", w / "fit", "--model", shape, "--tokens", str(planned.tokens))
    gptkit("scale", "sweep", *common, "-o", w / "target", *(arg for item in one_run for arg in ("--set", item)))
    run = w / "target" / "runs" / planned.name
    gptkit("scale", "check", w / "fit", run)
    print(json.dumps(json.loads((w / "fit" / "checks" / run.name / "check.json").read_text()), indent=1))


if __name__ == "__main__":
    main()
