"""The papers' numbers, to print beside gptkit's (from ../shared/notes/lm-eval.md).

GPT-2 (Radford et al., 2019), Table 3: zero-shot LAMBADA (its accuracies use a stop-word
filter, so they run higher than lm-eval's) and CoQA dev F1 (1542M only, greedy).
GPT-3 (Brown et al., 2020), Table H.1: LAMBADA accuracy and CoQA F1 per model size
(zero-shot; one- and few-shot only for 175B here). Accuracies, EM and F1 are percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    paper: str  # "GPT-2" | "GPT-3" | "lm-eval"
    model: str  # size label as the paper prints it
    params: float  # parameters
    task: str
    metric: str  # "acc" | "perplexity" | "f1"
    shots: str  # "0" | "1" | "few"
    value: float


_GPT2_SIZES = {"117M": 117e6, "345M": 345e6, "762M": 762e6, "1542M": 1542e6}
_GPT3_SIZES = {
    "Small 125M": 125e6, "Medium 350M": 350e6, "Large 760M": 760e6, "XL 1.3B": 1.3e9,
    "2.7B": 2.7e9, "6.7B": 6.7e9, "13B": 13e9, "175B": 175e9,
}  # fmt: skip


def _rows(paper: str, sizes: dict[str, float], task: str, metric: str, shots: str, values) -> list[Reference]:
    return [Reference(paper, m, sizes[m], task, metric, shots, v) for m, v in zip(sizes, values, strict=True)]


REFERENCES: list[Reference] = [
    *_rows("GPT-2", _GPT2_SIZES, "lambada", "perplexity", "0", [35.13, 15.60, 10.87, 8.63]),
    *_rows("GPT-2", _GPT2_SIZES, "lambada", "acc", "0", [45.99, 55.48, 60.12, 63.24]),
    Reference("GPT-2", "1542M", 1542e6, "coqa", "f1", "0", 55.0),
    *_rows("GPT-3", _GPT3_SIZES, "lambada", "acc", "0", [42.7, 54.3, 60.4, 63.6, 67.1, 70.3, 72.5, 76.2]),
    *_rows("GPT-3", _GPT3_SIZES, "coqa", "f1", "0", [34.5, 55.0, 61.8, 65.3, 71.1, 72.8, 76.3, 81.5]),
    Reference("GPT-3", "175B", 175e9, "lambada", "acc", "1", 72.5),
    Reference("GPT-3", "175B", 175e9, "lambada", "acc", "few", 86.4),
    Reference("GPT-3", "175B", 175e9, "coqa", "f1", "few", 85.0),
    # lm-eval's own lambada_openai for HF gpt2 (124M): whole word greedy, no stop-word filter
    Reference("lm-eval", "gpt2 124M", 124e6, "lambada", "acc", "0", 32.56),
    Reference("lm-eval", "gpt2 124M", 124e6, "lambada", "perplexity", "0", 40.06),
]


def nearest(task: str, metric: str, shots: str, params: float) -> list[Reference]:
    """Per paper, the reference for this setting whose model size is nearest (log scale) to ``params``."""
    best: dict[str, Reference] = {}
    for ref in REFERENCES:
        if (ref.task, ref.metric, ref.shots) != (task, metric, shots):
            continue
        distance = abs(math.log(ref.params / max(params, 1.0)))
        current = best.get(ref.paper)
        if current is None or distance < abs(math.log(current.params / max(params, 1.0))):
            best[ref.paper] = ref
    return list(best.values())
