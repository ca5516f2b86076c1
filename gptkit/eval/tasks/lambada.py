"""LAMBADA (OpenAI's version, 5,153 passages): predict the last word of a passage.

- 0-shot, ``plain`` format: exactly lm-eval's ``lambada_openai`` (context = every word but the
  last, target = ``" " + last word``, words split on single spaces).
- 1-shot and few-shot, ``cloze`` format (GPT-3): a ``Fill in blank:`` description, then demos
  ``"<context> ____. -> <word>"`` separated by blank lines, then ``"<context> ____. ->"``.
  Demos come from the other test passages, never the evaluated one.

Metrics are lm-eval's: ``acc`` (every token of the word is the greedy choice) and
``perplexity`` (exp of minus the mean log-likelihood of the whole word, per word).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gptkit.errors import InputError, UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.tasks.common import DemoSampler, TaskSpec, demo_pool, local_dataset, require_file
from gptkit.io.shards import iter_jsonl

NAME = "lambada"
FILE = Path("lambada") / "lambada_test.jsonl"
DESCRIPTION = "Fill in blank:\n\n"
BLANK = " ____. ->"


def context(doc: dict) -> str:
    return " ".join(doc["text"].split(" ")[:-1])


def cloze_context(doc: dict) -> str:
    return context(doc) + BLANK


def target(doc: dict) -> str:
    return " " + doc["text"].split(" ")[-1]


def render_cloze_demo(doc: dict) -> str:
    return cloze_context(doc) + target(doc) + "\n\n"


def render_plain_demo(doc: dict) -> str:
    return context(doc) + target(doc) + "\n\n"


def data_file(cfg: EvalConfig) -> Path:
    """The configured file, else DATA_DIR/lambada/lambada_test.jsonl, else the bundled copy."""
    if cfg.lambada.file is not None:
        return require_file(cfg.lambada.file, "LAMBADA test file", _HINT)
    if cfg.data_dir is not None:
        return require_file(cfg.data_dir / FILE, "LAMBADA test file", _HINT)
    return Path(str(resources.files("gptkit") / "samples" / "lambada_test.jsonl.gz"))


_HINT = (
    "put OpenAI's lambada_test.jsonl (5,153 passages, as distributed with GPT-2) at DATA_DIR/lambada/ "
    "and pass --data-dir DATA_DIR, or set eval.lambada.file"
)


def load_passages(path: Path) -> list[dict]:
    """``{"text", "key", "group"}`` per passage; a line without a string ``text`` is an InputError."""
    docs = []
    for line, obj in iter_jsonl(path):
        text = obj.get("text")
        if not isinstance(text, str) or " " not in text.strip():
            raise InputError('expected {"text": "<passage of several words>"}', path, line)
        docs.append({"text": text, "key": str(len(docs)), "group": text})
    if not docs:
        raise InputError("no passages", path)
    return docs


def task(cfg: EvalConfig) -> TaskSpec:
    path = data_file(cfg)
    docs = load_passages(path)
    shots = cfg.num_fewshot(cfg.lambada.fewshot_k)
    if shots >= len(docs):
        raise UsageError(f"LAMBADA {shots}-shot needs more than {shots} passages: {path} has {len(docs)}")
    fmt = cfg.lambada.format if cfg.lambada.format != "auto" else ("plain" if shots == 0 else "cloze")
    cloze = fmt == "cloze"
    config = {
        "task": NAME,
        "custom_dataset": local_dataset({"test": docs}),
        "output_type": "loglikelihood",
        "test_split": "test",
        "fewshot_split": "test",
        "doc_to_text": cloze_context if cloze else context,
        "doc_to_target": target,
        # the target carries its leading space: no delimiter, or demos would get two spaces
        "target_delimiter": "",
        "fewshot_delimiter": "\n\n",
        "description": DESCRIPTION if cloze else "",
        "fewshot_config": {"sampler": DemoSampler, "process_docs": demo_pool(docs)},
        "metric_list": [
            {"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False},
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0, "format": fmt},
    }
    return TaskSpec(
        name=NAME, config=config, num_fewshot=shots, inputs=[path],
        description=config["description"], render_demo=render_cloze_demo if cloze else render_plain_demo,
        settings={"format": fmt, "data_file": str(path), "documents": len(docs)},
    )  # fmt: skip
