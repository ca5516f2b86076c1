"""Tasks gptkit defines (LAMBADA, CoQA, GPT-1's zero-shot SST-2/CoLA/RACE/Story Cloze: offline,
from local files) and lm-eval pass-through."""

from __future__ import annotations

from collections.abc import Callable

from gptkit.eval.config import EvalConfig
from gptkit.eval.tasks import coqa, gpt1, lambada
from gptkit.eval.tasks.common import TaskSpec

#: gptkit's own tasks: name → builder of the task spec from the config.
TASKS: dict[str, Callable[[EvalConfig], TaskSpec]] = {
    lambada.NAME: lambada.task,
    lambada.STANDARD_NAME: lambada.standard_task,
    coqa.NAME: coqa.task,
    **gpt1.TASKS,
}

#: What ``gptkit eval MODEL`` runs with no task named, in this order, where the data is present.
DEFAULT_TASKS = (lambada.NAME, lambada.STANDARD_NAME, coqa.NAME)

#: lm-eval's names of gptkit's tasks (the same prompts and metrics, over local files).
LM_EVAL_NAMES = {"lambada_openai": lambada.NAME}

__all__ = ["DEFAULT_TASKS", "LM_EVAL_NAMES", "TASKS", "TaskSpec"]
