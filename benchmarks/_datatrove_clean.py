"""The datatrove half of bench_clean.py; runs with the datatrove venv's interpreter, never imports gptkit.

Usage: python _datatrove_clean.py INPUT_DIR WORK_DIR LID_MODEL  → prints one JSON line with
wall seconds, documents after each step, and the ids removed by MinHash and by exact dedup.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    input_dir, work, lid_model = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    import datatrove.utils.lid as lid
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.exact_dedup import (
        ExactDedupConfig,
        ExactDedupFilter,
        ExactDedupSignature,
        ExactFindDedups,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    lid.cached_asset_path_or_download = lambda *a, **k: lid_model  # offline: the same lid.176.ftz as gptkit

    def run(pipeline, name, tasks=1):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(work / "logs" / name)).run()

    def reader(folder):
        return JsonlReader(str(folder), glob_pattern="*.jsonl*")

    mh = MinhashConfig()  # 5-grams, 14 × 8, seed 1: FineWeb's settings
    t0, c0 = time.perf_counter(), _cpu()
    run([
        reader(input_dir), LanguageFilter(languages=["en"]), GopherRepetitionFilter(), GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
        JsonlWriter(str(work / "filtered"), output_filename="${rank}.jsonl.gz"),
    ], "filter")  # fmt: skip
    t_filter = time.perf_counter() - t0
    run([reader(work / "filtered"), MinhashDedupSignature(str(work / "sigs"), config=mh)], "sigs")
    run([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=mh)], "buckets", tasks=mh.num_buckets)
    run([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=mh)], "cluster")
    run([
        reader(work / "filtered"), MinhashDedupFilter(str(work / "remove"),
        exclusion_writer=JsonlWriter(str(work / "removed"), output_filename="${rank}.jsonl.gz")),
        PIIFormatter(), JsonlWriter(str(work / "out"), output_filename="${rank}.jsonl.gz"),
    ], "write")  # fmt: skip
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0

    exact = ExactDedupConfig(content_getter=lambda doc: " ".join(doc.text.split()))
    run([reader(input_dir), ExactDedupSignature(str(work / "exact_sigs"), config=exact)], "exact_sigs")
    run([ExactFindDedups(str(work / "exact_sigs"), str(work / "exact_dups"), config=exact)], "exact_find")
    run([
        reader(input_dir), ExactDedupFilter(str(work / "exact_dups"), config=exact,
        exclusion_writer=JsonlWriter(str(work / "exact_removed"), output_filename="${rank}.jsonl.gz")),
    ], "exact_filter")  # fmt: skip

    print(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu, "filter_seconds": t_filter,
        "steps": _kept_per_step(work / "logs" / "filter" / "stats.json"),
        "minhash_removed": _ids(work / "removed"), "exact_removed": _ids(work / "exact_removed"),
        "documents_out": len(_ids(work / "out")), "filtered": _ids(work / "filtered"),
    }))  # fmt: skip


def _cpu() -> float:
    import resource

    return sum(
        r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def _ids(folder: Path) -> list[str]:
    import gzip

    return sorted(json.loads(line)["id"] for p in folder.glob("*.jsonl.gz") for line in gzip.open(p, "rt"))


def _kept_per_step(stats_file: Path) -> dict[str, int]:
    """Documents forwarded by each filter, from datatrove's merged stats."""
    out = {}
    for step in json.loads(stats_file.read_text()):
        forwarded = step.get("stats", {}).get("forwarded")
        if forwarded is not None:
            out[step["name"]] = forwarded.get("total", forwarded) if isinstance(forwarded, dict) else forwarded
    return out


if __name__ == "__main__":
    main()
