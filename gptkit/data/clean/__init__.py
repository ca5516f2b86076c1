"""``gptkit data clean``: language id, quality filters, exact + near dedup, decontamination, PII.

Python API (what ``gptkit data clean`` and ``gptkit quickstart`` call)::

    from gptkit.data.clean import CleanConfig, clean
    cfg = CleanConfig()                                   # FineWeb order and datatrove thresholds
    cfg.decontaminate.eval_files = ["../shared/data/lambada/lambada_test.jsonl"]
    summary = clean(["runs/w/docs"], "runs/w/clean", cfg, reporter, workers=2)
    summary.stats["documents_out"], summary.stats["steps"]["language"]["dropped"]
    summary.complete        # False only when other --task-range slices still have to run

``inputs`` are document files or folders (zstd/gzip JSON lines ``{"id","text","metadata"}``, or
plain ``.txt`` files, one document each); the output folder gets ``NNNNN.jsonl.zst`` shards (one
per task), ``stats.json`` (documents and bytes in/out per step, drop reasons, bad input with file
and line), ``funnel.png``, ``config.toml``, ``manifest.json`` and, with ``keep_removed``,
``removed/<step>/NNNNN.jsonl.zst``. :func:`overlap_report` is ``gptkit data overlap``.
Config: :class:`CleanConfig` (the ``[clean]`` table of a recipe); phases: :mod:`.pipeline`.
"""

from gptkit.data.clean.config import CleanConfig
from gptkit.data.clean.overlap import overlap_report
from gptkit.data.clean.pipeline import CleanSummary, clean, read_stats

__all__ = ["CleanConfig", "CleanSummary", "clean", "overlap_report", "read_stats"]
