"""``custom_dataset`` loaders the YAMLs beside this file name with ``!function``: they read the
copies bundled with gptkit instead of the hub."""

from __future__ import annotations

from typing import Any


def lambada_openai(**_: Any):
    """OpenAI's LAMBADA test set (5,153 passages), the data of lm-eval's ``lambada_openai``."""
    import datasets

    from gptkit.eval.tasks.lambada import BUNDLED_FILE, load_passages

    rows = [{"text": doc["text"]} for doc in load_passages(BUNDLED_FILE)]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
