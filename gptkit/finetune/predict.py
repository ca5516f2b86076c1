"""``gptkit finetune predict``: a fine-tuned run's predictions for the examples of a file, as JSONL."""

from __future__ import annotations

import json
from pathlib import Path

from gptkit.finetune.objective import predict
from gptkit.finetune.run import load_finetuned
from gptkit.finetune.tasks import get_task, read_file
from gptkit.finetune.transforms import Transform
from gptkit.io.atomic import atomic_path
from gptkit.runtime import resolve_device


def predict_file(run: Path, file: Path, out: Path, device: str = "auto") -> int:
    """Write ``{"source", "prediction"[, "label"]}`` per example of ``file`` to ``out``; returns
    the number of examples. Predictions are label names (classification, entailment, MRPC/QQP),
    0-based option indices (multiple choice) or scores (STS-B)."""
    torch_device = resolve_device(device)
    gpt, head, tokenizer, cfg = load_finetuned(run, torch_device)
    task = get_task(cfg.task)
    split = read_file(task, file)
    transform = Transform(task, tokenizer, min(cfg.max_len, gpt.config.block_size))
    preds = predict(gpt, head, [transform(e) for e in split.examples], cfg.eval_batch, task.regression, torch_device)
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8") as f:
        for example, pred in zip(split.examples, preds, strict=True):
            record = {"source": example.source, "prediction": _shown(task.labels, pred)}
            if example.label is not None:
                record["label"] = _shown(task.labels, example.label)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(split.examples)


def _shown(labels: tuple[str, ...], value):
    return labels[value] if labels else value
