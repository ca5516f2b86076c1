"""Results on disk in lm-eval's formats, and the rows of the results table.

- ``results.json``: the dict ``lm_eval.simple_evaluate`` returns (``results``, ``configs``,
  ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ``config``…) plus
  ``task_hashes`` as lm-eval's ``EvaluationTracker`` writes them, and a ``gptkit`` table
  (model, data files, prompt formats, truncation); ``lm_eval.utils.make_table`` renders it.
- ``samples_<task>.jsonl``: one line per evaluated document, exactly as lm-eval's
  ``--log_samples`` writes them (document, prompt and target, responses, metrics).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptkit.eval.references import nearest
from gptkit.io.atomic import atomic_path, atomic_write_text

RESULTS_FILE = "results.json"
#: metrics shown as percentages (as the papers print them)
PERCENT = ("acc", "em", "f1")


def samples_file(task: str) -> str:
    return f"samples_{task}.jsonl"


def write_results(out_dir: Path, results: dict[str, Any], samples: dict[str, list[dict]]) -> list[Path]:
    """Write ``results.json`` and one samples file per task (atomically); return their paths."""
    from lm_eval.utils import handle_non_serializable, hash_string

    results["task_hashes"] = {
        task: hash_string("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in rows))
        for task, rows in samples.items()
    }
    paths = []
    for task, rows in samples.items():
        path = out_dir / samples_file(task)
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for sample in rows:
                f.write(
                    json.dumps(_loggable(sample), default=handle_non_serializable, ensure_ascii=False) + "\n"
                )
        paths.append(path)
    path = out_dir / RESULTS_FILE
    atomic_write_text(
        path, json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False) + "\n"
    )
    return [path, *paths]


def _loggable(sample: dict) -> dict:
    """lm-eval's sample sanitising: arguments as nested dicts, responses as strings."""
    from lm_eval.utils import sanitize_list

    out = dict(sample)
    out["arguments"] = {
        f"gen_args_{i}": {f"arg_{j}": value for j, value in enumerate(args)}
        for i, args in enumerate(sample["arguments"])
    }
    out["resps"] = sanitize_list(sample["resps"])
    out["filtered_resps"] = sanitize_list(sample["filtered_resps"])
    out["target"] = str(sample["target"])
    return out


def table_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (task, metric): value, stderr, and the nearest papers' numbers.

    Accuracy, EM and F1 are percentages; perplexity is as is.
    """
    params = float(results.get("gptkit", {}).get("model", {}).get("params", 0))
    rows = []
    for task, metrics in results["results"].items():
        shots = results.get("gptkit", {}).get("shots", str(results.get("n-shot", {}).get(task, 0)))
        n_shot = results.get("n-shot", {}).get(task, 0)
        for key, value in metrics.items():
            metric, _, filt = key.partition(",")
            if not filt or metric.endswith("_stderr") or not isinstance(value, int | float):
                continue
            stderr = metrics.get(f"{metric}_stderr,{filt}")
            scale = 100.0 if metric in PERCENT else 1.0
            refs = nearest(task, metric, shots, params)
            rows.append({
                "task": task, "shots": n_shot, "metric": metric, "value": value * scale,
                "stderr": stderr * scale if isinstance(stderr, int | float) else None,
                "percent": scale == 100.0,
                "references": [{"paper": r.paper, "model": r.model, "value": r.value} for r in refs],
            })  # fmt: skip
    return rows
