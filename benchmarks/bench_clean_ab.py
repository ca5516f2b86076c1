"""gptkit's half of ``bench_clean.py`` (no datatrove) for one code tree, to compare two versions.

Builds bench_clean's input (same seed) and cleans it with the gptkit of the given tree on one
worker; prints one JSON line with wall and CPU seconds. Alternate trees in one shell loop:

    git archive <base> gptkit benchmarks | tar -x -C /tmp/base
    for i in 1 2; do for t in /tmp/base .; do nice .venv/bin/python benchmarks/bench_clean_ab.py $t; done; done
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

tree = Path(sys.argv[1]).resolve()
sys.path[:0] = [str(tree), str(tree / "benchmarks")]

import bench_clean  # noqa: E402

from gptkit.io.shards import expand_inputs  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SUFFIXES = (".jsonl.gz", ".jsonl.zst", ".jsonl", ".txt")

args = argparse.Namespace(variants=4, near=200, exact=30, change=0.02, seed=0)
with tempfile.TemporaryDirectory() as tmp:
    sources = expand_inputs([SHARED / "corpora" / "web-text", SHARED / "corpora" / "openwebtext-sample"], SUFFIXES)
    planted = bench_clean.build_input(sources, Path(tmp) / "in", args)
    run = bench_clean.run_gptkit(Path(tmp) / "in", Path(tmp) / "out", [])
    n = planted["documents"]
    print(json.dumps({"tree": str(tree), "documents": n, "wall_s": round(run["seconds"], 2),
                      "cpu_s": round(run["cpu_seconds"], 2), "docs_per_cpu_s": round(n / run["cpu_seconds"], 1)}))  # fmt: skip
