"""Each task's official metric, computed with scikit-learn and SciPy.

``METRICS[name](predictions, labels)`` returns a dict whose first key is the headline number
GPT-1 reports: accuracy; Matthews correlation (CoLA); F1 then accuracy (MRPC, QQP); Pearson then
Spearman correlation (STS-B). Per-group scores (RACE middle/high) come from :func:`score`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gptkit.errors import UsageError


def accuracy(pred: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import accuracy_score

    return {"accuracy": float(accuracy_score(gold, pred))}


def mcc(pred: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    """Matthews correlation; 0 (not NaN) when the model predicts one class only, as GLUE scores it."""
    from sklearn.metrics import matthews_corrcoef

    return {"mcc": float(matthews_corrcoef(gold, pred)), **accuracy(pred, gold)}


def f1_accuracy(pred: Sequence[int], gold: Sequence[int]) -> dict[str, float]:
    """F1 of the positive class (1 = paraphrase / duplicate), then accuracy."""
    from sklearn.metrics import f1_score

    return {"f1": float(f1_score(gold, pred, zero_division=0.0)), **accuracy(pred, gold)}


def pearson_spearman(pred: Sequence[float], gold: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation; 0 when the predictions are constant (undefined)."""
    from scipy.stats import pearsonr, spearmanr

    if len(set(pred)) < 2 or len(set(gold)) < 2:
        return {"pearson": 0.0, "spearman": 0.0}
    return {"pearson": float(pearsonr(pred, gold).statistic), "spearman": float(spearmanr(pred, gold).statistic)}


METRICS: dict[str, Callable[[Sequence, Sequence], dict[str, float]]] = {
    "accuracy": accuracy,
    "mcc": mcc,
    "f1_accuracy": f1_accuracy,
    "pearson_spearman": pearson_spearman,
}


def score(metric: str, pred: Sequence, gold: Sequence, groups: Sequence[str] = ()) -> dict[str, float]:
    """``METRICS[metric]`` over all examples, plus ``<key>_<group>`` for each group (RACE's
    ``accuracy_middle`` / ``accuracy_high``) when ``groups`` label the examples."""
    if not gold:
        raise UsageError("no labelled examples to score")
    out = METRICS[metric](pred, gold)
    for group in sorted({g for g in groups if g}):
        idx = [i for i, g in enumerate(groups) if g == group]
        for key, value in METRICS[metric]([pred[i] for i in idx], [gold[i] for i in idx]).items():
            out[f"{key}_{group}"] = value
    out["n"] = len(gold)
    return out
