"""What gptkit's task definitions share: the task spec, local datasets, the demo sampler."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_eval.api.samplers import ContextSampler

from gptkit.errors import InputError, UsageError


@dataclass
class TaskSpec:
    """One task as gptkit runs it: an inline lm-eval task config plus what the runner needs."""

    name: str
    #: inline lm-eval task config (may hold callables).
    config: dict[str, Any]
    num_fewshot: int
    #: data files read (recorded in the manifest).
    inputs: list[Path] = field(default_factory=list)
    #: text before the demos (the task's ``description``).
    description: str = ""
    #: how one demo is rendered in the prompt (to count demos lost to context truncation).
    render_demo: Callable[[dict], str] | None = None
    #: settings worth recording in results.json (format, turns, data files…).
    settings: dict[str, Any] = field(default_factory=dict)


def local_dataset(splits: dict[str, list[dict]]) -> Callable[..., Any]:
    """An lm-eval ``custom_dataset`` callable returning these in-memory splits (no hub access)."""

    def build(**_: Any):
        import datasets

        return datasets.DatasetDict({name: datasets.Dataset.from_list(docs) for name, docs in splits.items()})

    return build


def demo_pool(docs: list[dict]) -> Callable[[Any], list[dict]]:
    """A ``fewshot_config.process_docs`` that ignores the split it is given and returns ``docs``.

    gptkit keeps ``fewshot_split == test_split`` so lm-eval always hands the evaluated document
    to the sampler (which then never draws from the same passage or story), and supplies the
    real demo pool (test passages, CoQA train or dev stories) here.
    """

    def process(_split: Any) -> list[dict]:
        return docs

    return process


class DemoSampler(ContextSampler):
    """Draws demos at random, never from the evaluated document's ``group`` (same passage,
    same story), and remembers which demos each document got (``drawn[doc key]``)."""

    def __init__(self, df: Sequence[dict] | None = None, *, rnd: int | None = None, **kwargs: Any):
        super().__init__(df, rnd=rnd, **kwargs)
        self.drawn: dict[str, list[dict]] = {}
        self._group_sizes = Counter(d["group"] for d in self.df)

    def sample(self, n: int, eval_doc: dict | None = None, df=None, **kwargs: Any) -> list[dict]:
        pool = self.df
        group = eval_doc["group"] if eval_doc is not None else None
        same = self._group_sizes.get(group, 0)
        if len(pool) - same < n:
            raise UsageError(
                f"{n} demos requested but only {len(pool) - same} documents from other passages/stories are "
                "available to draw them from (lower --fewshot-k or give more data)"
            )
        picks = self.rnd.sample(range(len(pool)), min(len(pool), n + same))
        demos = [pool[i] for i in picks if pool[i]["group"] != group][:n]
        if eval_doc is not None:
            self.drawn[eval_doc["key"]] = demos
        return demos


class MissingTaskData(InputError):
    """A task's data file is absent: an error when the task was asked for, a skip by default."""


def require_file(path: Path, what: str, hint: str) -> Path:
    """``path`` if it exists, else a one-line error saying what is needed and where."""
    if not path.is_file():
        raise MissingTaskData(f"{what} not found; {hint}", path)
    return path
