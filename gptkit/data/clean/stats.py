"""Per-step document and byte counts with drop reasons, summed over tasks into ``stats.json``."""

from __future__ import annotations

from collections import Counter
from typing import Any


class StepStats:
    """Counts of one run of steps: ``enter``/``keep``/``drop`` per document and step."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}

    def _step(self, name: str) -> dict[str, Any]:
        if name not in self.steps:
            self.steps[name] = {"docs_in": 0, "docs_out": 0, "bytes_in": 0, "bytes_out": 0, "dropped": Counter()}
        return self.steps[name]

    def keep(self, step: str, bytes_in: int, bytes_out: int, docs_out: int = 1) -> None:
        s = self._step(step)
        s["docs_in"] += 1
        s["bytes_in"] += bytes_in
        s["docs_out"] += docs_out
        s["bytes_out"] += bytes_out

    def drop(self, step: str, reason: str, bytes_in: int) -> None:
        s = self._step(step)
        s["docs_in"] += 1
        s["bytes_in"] += bytes_in
        s["dropped"][reason] += 1

    def to_json(self) -> dict[str, Any]:
        return {name: {**s, "dropped": dict(sorted(s["dropped"].items()))} for name, s in self.steps.items()}


def merge_steps(parts: list[dict[str, Any]], order: list[str]) -> dict[str, dict[str, Any]]:
    """Sum ``StepStats.to_json()`` dicts; steps in ``order`` (the config's ``steps``)."""
    total: dict[str, dict[str, Any]] = {}
    for part in parts:
        for name, s in part.items():
            t = total.setdefault(name, {"docs_in": 0, "docs_out": 0, "bytes_in": 0, "bytes_out": 0, "dropped": {}})
            for key in ("docs_in", "docs_out", "bytes_in", "bytes_out"):
                t[key] += s[key]
            for reason, n in s["dropped"].items():
                t["dropped"][reason] = t["dropped"].get(reason, 0) + n
    rank = {name: i for i, name in enumerate(order)}
    return {
        name: {**total[name], "dropped": dict(sorted(total[name]["dropped"].items()))}
        for name in sorted(total, key=lambda n: rank.get(n, len(rank)))
    }


def merge_issues(parts: list[dict[str, Any]], keep: int = 100) -> dict[str, Any]:
    """Sum ``IssueLog.to_json()`` dicts, keeping the first ``keep`` examples."""
    by_reason: Counter = Counter()
    examples: list[str] = []
    for part in parts:
        by_reason.update(part["by_reason"])
        examples.extend(part["examples"][: max(0, keep - len(examples))])
    return {"total": sum(by_reason.values()), "by_reason": dict(sorted(by_reason.items())), "examples": examples}
