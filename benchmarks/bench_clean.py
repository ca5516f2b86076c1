"""Benchmark ``gptkit data clean`` against datatrove's FineWeb pipeline on the same documents.

Both run on one worker in the same invocation: datatrove (installed only in a separate venv,
``python3 -m venv .bench/datatrove && .bench/datatrove/bin/pip install 'datatrove[processing]' spacy orjson``)
as a subprocess with that interpreter, gptkit in this process. The input is the shared web-text
sample plus planted near-duplicates (``--change`` of the words replaced) and exact duplicates
(whitespace changed). Prints docs/s (wall and CPU), near-dedup recall, exact-dedup agreement and
the documents left after each filter.

    .venv/bin/python benchmarks/bench_clean.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from gptkit.data.clean import CleanConfig, clean
from gptkit.data.clean.dedup import EXACT_DUP, exact_key, find_duplicates
from gptkit.data.clean.filters.language import LanguageFilter, bundled_model_path
from gptkit.io.shards import iter_documents

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def cpu_seconds() -> float:
    usage = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    return sum(r.ru_utime + r.ru_stime for r in usage)


def build_input(sources: list[Path], folder: Path, args: argparse.Namespace) -> dict:
    """Source documents, ``variants`` rewritten copies of each (15% of words replaced: new text
    for the filters, not near-duplicates), then planted duplicates of documents that pass the
    filters (so they reach dedup): near (``change`` of the words replaced) and exact (whitespace)."""
    from gptkit.data.clean import steps

    rng = random.Random(args.seed)
    base = [d for src in sources for d in iter_documents(src) if d["text"]]  # datatrove skips empty texts
    vocab = [w for d in base[:50] for w in d["text"].split()]

    def rewrite(text: str, share: float) -> str:
        words = text.split(" ")
        for j in rng.sample(range(len(words)), max(1, round(share * len(words)))):
            words[j] = rng.choice(vocab)
        return " ".join(words)

    docs = list(base)
    for k in range(args.variants):
        docs += [{**d, "id": f"{d['id']}~v{k}", "text": rewrite(d["text"], 0.15)} for d in base]
    for i, d in enumerate(docs):
        d["id"] = f"{i:05d}-{d['id']}"
    cfg = CleanConfig()
    filters = [step.build(cfg) for step in steps.active(cfg, "document")]
    passing = [d for d in docs if all(f({**d, "metadata": {}}) is None for f in filters)]
    near = {d["id"] + "~near": d["id"] for d in rng.sample(passing, min(args.near, len(passing)))}
    exact = [d["id"] + "~exact" for d in rng.sample(docs, args.exact)]
    by_id = {d["id"]: d for d in docs}
    planted = [{"id": c, "text": rewrite(by_id[o]["text"], args.change), "metadata": {}} for c, o in near.items()]
    planted += [{"id": c, "text": by_id[c[: -len("~exact")]]["text"].replace(" ", "  ", 1), "metadata": {}} for c in exact]
    folder.mkdir(parents=True)
    for name, part in (("00000.jsonl.gz", docs), ("00001.jsonl.gz", planted)):  # gzip: both tools read it
        with gzip.open(folder / name, "wb") as f:
            f.writelines(orjson.dumps(d) + b"\n" for d in part)
    return {"documents": len(docs) + len(planted), "near": near, "exact": exact, "all": docs + planted}


def ids_in(folder: Path) -> set[str]:
    return {d["id"] for p in folder.rglob("*.jsonl.zst") for d in iter_documents(p)}


def run_gptkit(inp: Path, out: Path, decontaminate: list[str]) -> dict:
    cfg = CleanConfig(keep_removed=True)
    cfg.pii.enabled = True  # as FineWeb and the datatrove pipeline below
    cfg.decontaminate.eval_files = decontaminate
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = clean([inp], out, cfg, workers=1)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": cpu_seconds() - c0, "stats": summary.stats}


def recall(near: dict[str, str], reached: set[str], removed: set[str]) -> tuple[float, int]:
    """Share of planted near-duplicates removed, among those that reached dedup with their original."""
    pairs = [c for c, orig in near.items() if c in reached and orig in reached]
    return (sum(c in removed for c in pairs) / len(pairs) if pairs else float("nan")), len(pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", nargs="*", type=Path, default=[SHARED / "corpora" / "web-text", SHARED / "corpora" / "openwebtext-sample"])
    ap.add_argument("--variants", type=int, default=4, help="rewritten copies of each source document (more input)")
    ap.add_argument("--near", type=int, default=200, help="planted near-duplicates")
    ap.add_argument("--exact", type=int, default=30, help="planted exact duplicates (whitespace changed)")
    ap.add_argument("--change", type=float, default=0.02, help="share of words replaced in near-duplicates")
    ap.add_argument("--datatrove-python", default=str(REPO / ".bench" / "datatrove" / "bin" / "python"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from gptkit.io.shards import expand_inputs

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sources = expand_inputs(args.input, (".jsonl.gz", ".jsonl.zst", ".jsonl", ".txt"))
        planted = build_input(sources, work / "in", args)
        n = planted["documents"]

        dt = subprocess.run(
            [args.datatrove_python, str(Path(__file__).with_name("_datatrove_clean.py")), str(work / "in"), str(work / "dt"), str(bundled_model_path())],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if dt.returncode != 0:
            sys.exit(f"datatrove run failed (is {args.datatrove_python} installed?):\n{dt.stderr[-3000:]}")
        dtr = json.loads(dt.stdout.strip().splitlines()[-1])
        gk = run_gptkit(work / "in", work / "gk", [])
        gkd = run_gptkit(work / "in", work / "gkd", [str(SHARED / "lambada" / "lambada_test.jsonl")])

        out_ids = ids_in(work / "gk") - ids_in(work / "gk" / "removed")
        mh_removed = ids_in(work / "gk" / "removed" / "minhash_dedup")
        gk_recall, gk_pairs = recall(planted["near"], out_ids | mh_removed, mh_removed)
        dt_recall, dt_pairs = recall(planted["near"], set(dtr["filtered"]), set(dtr["minhash_removed"]))

        lid = LanguageFilter(CleanConfig().language)
        c0 = cpu_seconds()
        for d in planted["all"]:
            lid({"text": d["text"], "metadata": {}})
        lid_cpu = cpu_seconds() - c0

        keys = np.asarray([exact_key(d["text"]) for d in planted["all"]], dtype=np.uint64)
        decision = find_duplicates(len(keys), keys, None).decision
        gk_exact = {d["id"] for d, c in zip(planted["all"], decision, strict=True) if c == EXACT_DUP}
        same_exact = gk_exact == set(dtr["exact_removed"])

    print(f"documents: {n} ({len(planted['near'])} planted near-duplicates with {args.change:.0%} of words changed, {args.exact} exact)")
    print(f"{'pipeline':<38}{'docs out':>9}{'wall s':>9}{'CPU s':>8}{'docs/s wall':>13}{'docs/s CPU':>12}{'× datatrove (CPU)':>19}")
    rows = [
        ("datatrove (lid→filters→minhash→PII)", dtr["documents_out"], dtr["seconds"], dtr["cpu_seconds"]),
        ("gptkit (same steps + exact dedup)", gk["stats"]["documents_out"], gk["seconds"], gk["cpu_seconds"]),
        ("gptkit + LAMBADA decontamination", gkd["stats"]["documents_out"], gkd["seconds"], gkd["cpu_seconds"]),
    ]
    for name, docs, wall, cpu in rows:
        print(f"{name:<38}{docs:>9}{wall:>9.1f}{cpu:>8.1f}{n / wall:>13.1f}{n / cpu:>12.1f}{dtr['cpu_seconds'] / cpu:>18.1f}×")
    rest_dt, rest_gk = dtr["cpu_seconds"] - lid_cpu, gk["cpu_seconds"] - lid_cpu
    print(f"fastText language id alone (same model, same calls in both): {lid_cpu:.1f} CPU s; the rest of the pipeline: "
          f"datatrove {rest_dt:.1f} s, gptkit {rest_gk:.1f} s = {rest_dt / rest_gk:.1f}×")
    print(f"near-dedup recall: gptkit {gk_recall:.1%} of {gk_pairs} pairs, datatrove {dt_recall:.1%} of {dt_pairs} pairs")
    print(f"exact dedup: gptkit removes {len(gk_exact)}, datatrove {len(dtr['exact_removed'])}, identical sets: {same_exact}")
    print(f"{'documents after':<22}{'gptkit':>8}{'datatrove':>11}")
    dt_steps = list(dtr["steps"].values())
    for (name, s), dt_kept in zip(list(gk["stats"]["steps"].items())[:5], dt_steps, strict=False):
        print(f"{name:<22}{s['docs_out']:>8}{dt_kept:>11}")


if __name__ == "__main__":
    main()
