"""Packing speed: ``gptkit data pack`` end to end vs a bare tiktoken encode of the same text.

Input: the shared corpora (web-text, OpenWebText sample, Tiny Shakespeare, WikiText) cut into
documents of about 4 kB and repeated until ``--mb`` MB of text, written as zstd JSONL shards.

- bare tiktoken: the texts already in memory, ``Encoding.encode_ordinary_batch(texts,
  num_threads=W)`` with the GPT-2 merges (the same ``tiktoken.Encoding`` gptkit uses).
- gptkit: ``gptkit data pack DIR -t GPT2 -o OUT --workers W`` in a new process — Python start,
  tokenizer load, reading and decompressing, scanning, encoding, writing shards and indexes,
  hashing, manifest — timed from outside. Peak RSS is sampled every 20 ms over the whole
  process tree (parent + workers, summed).

Best of ``--repeat`` runs each, alternating, on the same cores.

    .venv/bin/python benchmarks/bench_pack.py --mb 64 --workers 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gptkit.io.shards import iter_documents, write_documents
from gptkit.tokenizer import load_tokenizer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def corpus_documents(doc_chars: int = 4000) -> list[str]:
    """Texts of the shared corpora, long files cut into documents at line breaks."""
    texts = [d["text"] for f in sorted((SHARED / "corpora/web-text").glob("*.jsonl.gz")) for d in iter_documents(f)]
    texts += [p.read_text() for p in sorted((SHARED / "corpora/openwebtext-sample").glob("*.txt"))]
    for p in [SHARED / "corpora/tinyshakespeare/input.txt", *sorted((SHARED / "corpora/wikitext").glob("*"))]:
        cur: list[str] = []
        n = 0
        for line in p.read_text(encoding="utf-8").splitlines(keepends=True):
            cur.append(line)
            n += len(line)
            if n >= doc_chars:
                texts.append("".join(cur))
                cur, n = [], 0
        if cur:
            texts.append("".join(cur))
    return [t for t in texts if t.strip()]


def build_input(directory: Path, mb: float, shards: int) -> list[str]:
    """Write about ``mb`` MB of documents into ``shards`` zstd JSONL files; return the texts."""
    base = corpus_documents()
    texts: list[str] = []
    size = 0
    while size < mb * 1e6:
        for t in base:
            texts.append(t)
            size += len(t.encode())
    per = -(-len(texts) // shards)
    for k in range(shards):
        docs = [{"id": f"d{i}", "text": t, "metadata": {}} for i, t in enumerate(texts[k * per : (k + 1) * per], k * per)]
        write_documents(directory / f"{k:05d}.jsonl.zst", docs)
    return texts


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_pack(src: Path, tokenizer: Path, out: Path, workers: int) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (all processes) and peak tree RSS of one ``gptkit data pack``."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gptkit", "-q", "data", "pack", str(src), "--tokenizer", str(tokenizer), "-o", str(out),
           "--workers", str(workers)]  # fmt: skip
    t, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak = 0

    def sample() -> None:
        nonlocal peak
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    proc.wait()
    seconds = time.perf_counter() - t
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"gptkit data pack failed with exit code {proc.returncode}")
    return seconds, children_cpu() - cpu, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=64, help="MB of text to pack")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="gptkit workers = tiktoken threads")
    ap.add_argument("--input-shards", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tokenizer", type=Path, default=SHARED / "tokenizers/gpt2")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_pack_"))
    try:
        texts = build_input(tmp / "docs", args.mb, args.input_shards)
        n_bytes = sum(len(t.encode()) for t in texts)
        enc = load_tokenizer(args.tokenizer).tiktoken
        bare, ours, rss, n_tokens = [], [], [], 0
        for _ in range(args.repeat):
            t, cpu = time.perf_counter(), time.process_time()
            ids = enc.encode_ordinary_batch(texts, num_threads=args.workers)
            bare.append((time.perf_counter() - t, time.process_time() - cpu))
            n_tokens = sum(map(len, ids)) + len(ids)  # + one <|endoftext|> per document
            del ids
            seconds, cpu_seconds, peak = run_pack(tmp / "docs", args.tokenizer, tmp / "tokens", args.workers)
            ours.append((seconds, cpu_seconds))
            rss.append(peak)
        (b, b_cpu), (o, o_cpu) = min(bare), min(ours)
        print(f"input: {n_bytes / 1e6:.1f} MB of text, {len(texts):,} documents, {n_tokens:,} tokens, "
              f"{args.input_shards} zstd shards; {args.workers} workers/threads; best of {args.repeat}")  # fmt: skip
        print(f"{'':32} {'seconds':>8} {'MB/s':>7} {'Mtok/s':>7} {'CPU s':>7} {'peak RSS':>9}")
        print(f"{'bare tiktoken (in memory)':32} {b:8.2f} {n_bytes / 1e6 / b:7.2f} {n_tokens / 1e6 / b:7.2f} "
              f"{b_cpu:7.2f}")  # fmt: skip
        print(f"{'gptkit data pack (end to end)':32} {o:8.2f} {n_bytes / 1e6 / o:7.2f} {n_tokens / 1e6 / o:7.2f} "
              f"{o_cpu:7.2f} {max(rss) / 2**20:7.0f}MB")  # fmt: skip
        print(f"throughput ratio gptkit / bare: {b / o:.2f}x   (CPU-time ratio bare / gptkit: {b_cpu / o_cpu:.2f}x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
