"""Tasks gptkit defines (LAMBADA, CoQA: offline, from local files) and lm-eval pass-through."""

from __future__ import annotations

from collections.abc import Callable

from gptkit.eval.config import EvalConfig
from gptkit.eval.tasks import coqa, lambada
from gptkit.eval.tasks.common import TaskSpec

#: gptkit's own tasks: name → builder of the task spec from the config.
TASKS: dict[str, Callable[[EvalConfig], TaskSpec]] = {lambada.NAME: lambada.task, coqa.NAME: coqa.task}

__all__ = ["TASKS", "TaskSpec"]
