"""The same ``data clean`` on the local executor (2 worker processes) and on a local Ray cluster
(2 CPUs): wall time, Ray's overhead, and the per-task cost of each executor on no-op tasks.

The input is the shared web-text CC sample repeated ``--copies`` times (each copy's documents get
their copy number appended, so exact dedup keeps them) in ``--shards`` files: one clean task per file
and phase. The Ray cluster is started before the timed run (its start-up is reported apart); both
outputs are checked to be identical.

    nice .venv/bin/python benchmarks/bench_executors.py            # ≈ 10,000 documents, 20 tasks
"""

from __future__ import annotations

import argparse
import filecmp
import os
import tempfile
import time
from pathlib import Path

from gptkit.data.clean import CleanConfig, clean
from gptkit.exec import ExecutorConfig, Phase, executor_for
from gptkit.io.shards import iter_documents, write_documents

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "tests/data/corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"


def build_input(folder: Path, copies: int, shards: int) -> int:
    base = list(iter_documents(SAMPLE))
    docs = [{**d, "id": f"{d['id']}-{k}", "text": f"{d['text']}\n(copy {k})"} for k in range(copies) for d in base]
    for s in range(shards):
        write_documents(folder / f"{s:05d}.jsonl.zst", docs[s::shards])
    return len(docs)


def noop(task: int) -> dict:
    return {"task": task}


def per_task_ms(executor: ExecutorConfig, workers: int, tasks: int, folder: Path) -> float:
    """Milliseconds per no-op task: scheduling, pickling, the marker, and for the local executor its
    pool's start (one pool per phase, as the stages use it); Ray's cluster is already up."""
    executor_for(workers, executor).run(Phase(noop, list(range(workers)), [f"w{i}" for i in range(workers)], folder / "warm"))
    started = time.perf_counter()
    executor_for(workers, executor).run(Phase(noop, list(range(tasks)), [f"t{i}" for i in range(tasks)], folder / "noop"))
    return 1000 * (time.perf_counter() - started) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=15)
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--noop-tasks", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "token")  # as gptkit starts its clusters: Ray's default, said aloud
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_docs = build_input(root / "in", args.copies, args.shards)
        local, on_ray = ExecutorConfig(), ExecutorConfig(kind="ray")
        started = time.perf_counter()
        clean([root / "in"], root / "local", CleanConfig(), workers=args.workers)
        local_s = time.perf_counter() - started
        started = time.perf_counter()
        ray.init(num_cpus=args.workers, object_store_memory=200 << 20, include_dashboard=False, log_to_driver=False)
        start_s = time.perf_counter() - started
        started = time.perf_counter()
        clean([root / "in"], root / "ray", CleanConfig(), workers=args.workers, executor=on_ray)
        ray_s = time.perf_counter() - started
        shards = sorted(p.name for p in (root / "local").glob("*.jsonl.zst"))
        same = filecmp.cmpfiles(root / "local", root / "ray", [*shards, "stats.json"], shallow=False)[0]
        ms = {name: per_task_ms(cfg, args.workers, args.noop_tasks, root / name) for name, cfg in
              (("local", local), ("ray", on_ray))}  # fmt: skip
    print(f"{n_docs:,} documents, {args.shards} tasks per phase, {args.workers} workers / CPUs")
    print(f"local executor   {local_s:7.1f} s   {n_docs / local_s:6.0f} docs/s")
    print(f"ray executor     {ray_s:7.1f} s   {n_docs / ray_s:6.0f} docs/s   overhead {100 * (ray_s / local_s - 1):+.1f} %"
          f"   (cluster start {start_s:.1f} s, not included)")
    print(f"no-op task       local {ms['local']:.1f} ms   ray {ms['ray']:.1f} ms   ({args.noop_tasks} tasks)")
    print(f"identical shards and stats: {len(same) == len(shards) + 1}")


if __name__ == "__main__":
    main()
