"""Tokenizer benchmark: training time and peak memory, encoding throughput.

Builds a corpus of about ``--mb`` MB from the shared corpora (repeated to size), once as
``.jsonl.zst`` document shards and once as the same text in ``.txt`` files, then measures in
separate processes (so peak RSS is per run):

- training: ``gptkit tokenizer train`` on the shards vs bare HF ``tokenizers`` trained from the
  ``.txt`` files (``Tokenizer.train(files)``, the fastest way HF offers), same merges and threads,
  the median of ``--train-repeats`` interleaved runs (the 2-core machine here varies by ~5 %);
- encoding: gptkit ``encode_batch`` vs a raw ``tiktoken.Encoding`` built from the same merges,
  and HF ``encode_batch`` for reference.

    .venv/bin/python benchmarks/bench_tokenizer.py --mb 70 --merges 40000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GPTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))


def source_documents() -> list[str]:
    """Documents of the shared corpora: web text, LAMBADA, Shakespeare and wikitext paragraphs."""
    from gptkit.io.shards import IssueLog, iter_documents

    docs = []
    for path in sorted((SHARED / "corpora" / "web-text").glob("*.jsonl.gz")):
        docs += [d["text"] for d in iter_documents(path, IssueLog())]
    docs += [d["text"] for d in iter_documents(SHARED / "lambada" / "lambada_test.jsonl", IssueLog())]
    for path in [SHARED / "corpora/tinyshakespeare/input.txt", *sorted((SHARED / "corpora/wikitext").glob("*.tokens"))]:
        docs += [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    docs += [p.read_text(encoding="utf-8") for p in sorted((SHARED / "corpora/openwebtext-sample").glob("*.txt"))]
    return docs


def build_corpus(out: Path, megabytes: float, files: int = 8) -> tuple[list[Path], list[Path]]:
    """Write the corpus as ``files`` shards and as the same text in ``files`` .txt files."""
    from gptkit.io.shards import ShardWriter

    docs = source_documents()
    target = int(megabytes * 1e6)
    per_file = target // files
    shards, texts = [], []
    i = 0
    for f in range(files):
        shard, txt = out / f"{f:05d}.jsonl.zst", out / "txt" / f"{f:05d}.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with ShardWriter(shard) as w, txt.open("w", encoding="utf-8") as t:
            while size < per_file:
                text = docs[i % len(docs)]
                i += 1
                w.write({"id": str(i), "text": text, "metadata": {}})
                t.write(text + "\n\n")
                size += len(text.encode("utf-8"))
        shards.append(shard)
        texts.append(txt)
    return shards, texts


def _hf_train(files: list[str], merges: int, threads: int) -> dict:
    """Bare HF tokenizers in a child process: byte-level BPE from text files, or (when the files
    are shards) ``train_from_iterator`` over their documents, one training sequence each."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from gptkit.io.shards import iter_documents

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + merges, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    t0 = time.perf_counter()
    if files[0].endswith(".jsonl.zst"):
        tok.train_from_iterator((d["text"] for f in files for d in iter_documents(f)), trainer)
    else:
        tok.train(files, trainer)
    return {"seconds": time.perf_counter() - t0, "merges": len(json.loads(tok.to_str())["model"]["merges"])}


def measure(cmd: list[str], threads: int) -> dict:
    """Run ``cmd`` in a child process; wall time and the child's peak RSS."""
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed:\n{stderr.read()[-3000:]}")
        return {"wall": wall, "peak_mb": usage.ru_maxrss / 1024, "stdout": stdout.read()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=70, help="corpus size in MB (default 70)")
    ap.add_argument("--merges", type=int, default=40000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--work", type=Path, default=None, help="folder for the corpus (default: a temp dir)")
    ap.add_argument("--skip", choices=["train", "encode"], default=None)
    ap.add_argument("--train-repeats", type=int, default=3, help="training runs per contender (median is shown)")
    ap.add_argument("--repeats", type=int, default=5, help="encoding runs per engine (best is shown)")
    ap.add_argument("--_child", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        print(json.dumps(_hf_train(args._child, args.merges, args.threads)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_tok_"))
    shards, texts = build_corpus(work, args.mb)
    mb = sum(p.stat().st_size for p in texts) / 1e6
    print(f"corpus: {mb:.1f} MB of text in {len(shards)} shards / {len(texts)} .txt files under {work}")
    if args.skip != "train":
        bench_train(args, work, shards, texts)
    if args.skip != "encode":
        bench_encode(args, work, texts)


def bench_train(args, work: Path, shards: list[Path], texts: list[Path]) -> None:
    """Each contender ``--train-repeats`` times, interleaved; the median wall and train times."""
    out = work / "tok"
    contenders = {
        "HF tokenizers, .txt files": lambda: _hf_run(args, texts),
        "HF tokenizers, iterator of docs": lambda: _hf_run(args, shards),
        "gptkit, .jsonl.zst shards": lambda: _gptkit_run(args, shards, out),
    }
    runs: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in contenders}
    for _ in range(args.train_repeats):
        for name, run in contenders.items():
            runs[name].append(run())
    print(f"\ntraining, {args.merges} merges, {args.threads} threads, median of {args.train_repeats} interleaved runs "
          "(wall = whole process incl. start-up)")
    print(f"{'':32} {'wall s':>8} {'train s':>8} {'peak RSS MB':>12} {'merges':>7}")
    rows = {}
    for name, results in runs.items():
        wall, train_s = statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)
        rows[name] = (wall, max(r[2] for r in results))
        print(f"{name:32} {wall:8.1f} {train_s:8.1f} {rows[name][1]:12.0f} {results[0][3]:7d}")
    ours = rows.pop("gptkit, .jsonl.zst shards")
    for name, (wall, peak) in rows.items():
        print(f"ratio gptkit / {name}: time {ours[0] / wall:.2f}x, memory {ours[1] / peak:.2f}x")
    print(f"gptkit's producer alone (shards -> cut lines -> a drained pipe): {producer_rate(shards, args):.0f} MB/s")


def producer_rate(shards: list[Path], args) -> float:
    """Text MB/s of the thread that feeds HF, with nothing training: the most it can feed."""
    import threading

    from gptkit.io.shards import IssueLog
    from gptkit.reporting import TaskHandle
    from gptkit.tokenizer.train import TrainTokenizerConfig, _Corpus, _produce

    read_fd, write_fd = os.pipe()
    drain = threading.Thread(target=lambda: all(iter(lambda: os.read(read_fd, 1 << 20), b"")))
    drain.start()
    corpus = _Corpus(IssueLog())
    cfg = TrainTokenizerConfig(inputs=list(shards), merges=args.merges)
    t0 = time.perf_counter()
    _produce(write_fd, shards, cfg, corpus, TaskHandle(), threading.Event())
    seconds = time.perf_counter() - t0
    drain.join()
    os.close(read_fd)
    if corpus.error is not None:
        raise corpus.error
    return corpus.text_bytes / 1e6 / seconds


def _hf_run(args, files: list[Path]) -> tuple[float, float, float, int]:
    run = measure([sys.executable, __file__, "--merges", str(args.merges), "--threads", str(args.threads),
                   "--_child", *map(str, files)], args.threads)  # fmt: skip
    inner = json.loads(run["stdout"])
    return run["wall"], inner["seconds"], run["peak_mb"], inner["merges"]


def _gptkit_run(args, shards: list[Path], out: Path) -> tuple[float, float, float, int]:
    run = measure([sys.executable, "-m", "gptkit", "-q", "tokenizer", "train", *map(str, shards), "--out", str(out),
                   "--merges", str(args.merges), "--threads", str(args.threads), "--force"], args.threads)  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    return run["wall"], manifest["timings"]["train"], run["peak_mb"], manifest["counts"]["merges"]


def bench_encode(args, work: Path, texts: list[Path]) -> None:
    import tiktoken
    from tokenizers import Tokenizer as HFTokenizer

    from gptkit.tokenizer import load_tokenizer
    from gptkit.tokenizer.tokenizer import GPT2_PATTERN

    tok_dir = work / "tok" if (work / "tok" / "tokenizer.json").is_file() else SHARED / "tokenizers" / "gpt2"
    tok = load_tokenizer(tok_dir)
    raw = tiktoken.Encoding("raw", pat_str=GPT2_PATTERN, mergeable_ranks=dict(tok.ranks), special_tokens=tok.specials)
    hf = HFTokenizer.from_file(str(tok_dir / "tokenizer.json")) if (tok_dir / "tokenizer.json").is_file() else tok.hf
    docs = [d for p in texts[:1] for d in p.read_text(encoding="utf-8").split("\n\n")]
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    engines = [
        ("raw tiktoken encode_ordinary_batch", lambda: raw.encode_ordinary_batch(docs, num_threads=args.threads)),
        ("gptkit encode_batch", lambda: tok.encode_batch(docs, num_threads=args.threads)),
        ("HF tokenizers encode_batch", lambda: [e.ids for e in hf.encode_batch(docs, add_special_tokens=False)]),
    ]
    best = dict.fromkeys(name for name, _ in engines)
    for _ in range(args.repeats):  # interleaved, so that load from other processes hits all alike
        for name, fn in engines:
            seconds = _timed(fn)
            best[name] = min(best[name] or seconds, seconds)
    rows = list(best.items())
    same = tok.encode_batch(docs) == raw.encode_ordinary_batch(docs)
    print(f"\nencoding {mb:.1f} MB in {len(docs)} documents, {args.threads} threads, tokenizer {tok_dir}, best of {args.repeats}, interleaved")
    for name, s in rows:
        print(f"{name:36} {mb / s:8.1f} MB/s")
    print(f"ratio gptkit/raw tiktoken: {rows[0][1] / rows[1][1]:.2f}x   identical ids: {same}")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
