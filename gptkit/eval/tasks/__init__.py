"""Tasks gptkit defines (LAMBADA, CoQA: offline, from local files) and lm-eval pass-through."""

from __future__ import annotations

from collections.abc import Callable

from gptkit.eval.config import EvalConfig
from gptkit.eval.tasks import coqa, lambada
from gptkit.eval.tasks.common import TaskSpec

#: gptkit's own tasks: name → builder of the task spec from the config. Run by default, in this
#: order, when their data is present.
TASKS: dict[str, Callable[[EvalConfig], TaskSpec]] = {
    lambada.NAME: lambada.task,
    lambada.STANDARD_NAME: lambada.standard_task,
    coqa.NAME: coqa.task,
}

#: lm-eval's names of gptkit's tasks (the same prompts and metrics, over local files).
LM_EVAL_NAMES = {"lambada_openai": lambada.NAME}

__all__ = ["LM_EVAL_NAMES", "TASKS", "TaskSpec"]
