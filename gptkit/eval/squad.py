"""SQuAD-style answer scoring (exact match and token F1), as CoQA is scored.

Answers are normalised the SQuAD way (lower case, punctuation and the articles a/an/the
removed, whitespace collapsed). When a question has several reference answers, each is left
out in turn and the prediction is scored against the others (the best of them); the scores
are averaged over the left-out answers. This is CoQA's official protocol and lm-eval's
``coqa`` task; it does not need transformers' (removed) ``squad_metrics``.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def exact_match(gold: str, pred: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str, pred: str) -> float:
    """Harmonic mean of token precision and recall; two empty answers score 1."""
    gold_toks, pred_toks = answer_tokens(gold), answer_tokens(pred)
    if not gold_toks or not pred_toks:
        return float(gold_toks == pred_toks)
    same = sum((Counter(gold_toks) & Counter(pred_toks)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def score_answer(golds: list[str], pred: str) -> dict[str, float]:
    """``{"em", "f1"}`` of ``pred`` against ``golds`` with leave-one-out over the references."""
    if len(golds) == 1:
        return {"em": float(exact_match(golds[0], pred)), "f1": token_f1(golds[0], pred)}
    em = f1 = 0.0
    for i in range(len(golds)):
        others = golds[:i] + golds[i + 1 :]
        em += max(exact_match(g, pred) for g in others)
        f1 += max(token_f1(g, pred) for g in others)
    return {"em": em / len(golds), "f1": f1 / len(golds)}
