"""The model card (README.md) of an export, as the HF hub shows one: what the model is, what it
was trained on (the data's manifest hashes), for how long, and how it scored.

Everything comes from files gptkit wrote: the model's config, its tokenizer, and, when the
exported model belongs to a training run, the run's ``manifest.json`` and its
``eval/*/results.json``. A model without a run (e.g. an import) gets the sections it can fill.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptkit.model.gpt import GPT

#: How far up from a checkpoint (RUN/checkpoints/step_N) the run's manifest may be.
_RUN_DEPTH = 3


def model_card(model: GPT, tokenizer: Any, source: Path) -> str:
    """README.md text for ``model`` exported from the model directory ``source``."""
    run_dir, manifest = _training_run(source)
    parts = [_front_matter(model), f"# {run_dir.name if run_dir else source.name}\n", _architecture(model)]
    parts.append(_tokenizer(tokenizer))
    if manifest is not None:
        parts.append(_training(manifest))
    if run_dir is not None:
        parts.append(_evaluation(run_dir))
    parts.append(_usage())
    return "\n".join(part for part in parts if part)


def _training_run(source: Path) -> tuple[Path | None, dict | None]:
    """The training run ``source`` belongs to (its directory and manifest), if any."""
    for folder in [source.resolve(), *source.resolve().parents][:_RUN_DEPTH]:
        path = folder / "manifest.json"
        if path.is_file():
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("stage") == "train":
                return folder, manifest
    return None, None


def _front_matter(model: GPT) -> str:
    model_type = "gpt2" if model.config.arch == "gpt2" else "openai-gpt"
    return f"---\nlibrary_name: transformers\npipeline_tag: text-generation\ntags:\n- gptkit\n- {model_type}\n---\n"


def _architecture(model: GPT) -> str:
    c = model.config
    rows = [
        ("architecture", f"{c.arch} (decoder-only transformer)"),
        ("parameters", f"{model.num_params(non_embedding=False):,}"),
        ("layers / heads / width", f"{c.n_layer} / {c.n_head} / {c.n_embd}"),
        ("context", f"{c.block_size} tokens"),
        ("vocabulary", f"{c.vocab_size:,}"),
        ("dropout", str(c.dropout)),
    ]
    return "## Model\n\n" + _table(("", ""), rows)


def _tokenizer(tokenizer: Any) -> str:
    if tokenizer is None:
        return "## Tokenizer\n\nNone was saved with the model.\n"
    rows = [("kind", "byte-level BPE (GPT-2 style)"), ("vocabulary", f"{tokenizer.vocab_size:,}"),
            ("hash", f"`{tokenizer.hash}`")]  # fmt: skip
    return "## Tokenizer\n\n" + _table(("", ""), rows)


def _training(manifest: dict) -> str:
    counts = manifest.get("counts", {})
    summary = manifest.get("summary", {})
    rows = [(key, _number(counts[key])) for key in ("steps", "tokens") if key in counts]
    for key in ("final_val_loss", "best_val_loss", "tokens_per_s"):
        if summary.get(key) is not None:
            rows.append((key.replace("_", " "), _number(summary[key])))
    data = [(i.get("path", "?"), f"`{i.get('hash', '?')}`") for i in manifest.get("inputs", [])]
    text = "## Training\n\n" + _table(("", ""), rows)
    if data:
        text += "\nTraining data (from the run's manifest):\n\n" + _table(("file", "hash"), data)
    return text


def _evaluation(run_dir: Path) -> str:
    rows = []
    for path in sorted(run_dir.glob("eval/*/results.json")):
        try:
            results = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        shots = results.get("gptkit", {}).get("shots", "?")
        for task, metrics in results.get("results", {}).items():
            for key, value in metrics.items():
                metric, _, _ = key.partition(",")
                if isinstance(value, int | float) and not metric.endswith("_stderr") and metric != "alias":
                    rows.append((task, str(shots), metric, _number(value)))
    if not rows:
        return ""
    return "## Evaluation (gptkit eval, lm-eval metrics)\n\n" + _table(("task", "shots", "metric", "value"), rows)


def _usage() -> str:
    return (
        "## Use\n\n```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        'model = AutoModelForCausalLM.from_pretrained("PATH")\ntokenizer = AutoTokenizer.from_pretrained("PATH")\n```\n'
    )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)
