"""LAMBADA (5,153 passages): predict the last word of a passage.

Two versions of the test set, each under its lm-eval name as well: ``lambada`` (=
``lambada_openai``: OpenAI's detokenized, cased file) and ``lambada_standard`` (the original
lower-cased, PTB-tokenized ``lambada_test_plain_text.txt``, as lm-eval's ``lambada_standard``).

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
from gptkit.eval.tasks.common import (
    DemoSampler,
    MissingTaskData,
    TaskSpec,
    demo_pool,
    local_dataset,
    require_file,
)
from gptkit.io.shards import iter_jsonl

NAME = "lambada"
STANDARD_NAME = "lambada_standard"
FILE = Path("lambada") / "lambada_test.jsonl"
STANDARD_FILE = Path("lambada") / "lambada_test_plain_text.txt"
#: the copy bundled with gptkit (gptkit/samples/LICENSES.md): the quickstart's and the fallback
BUNDLED_FILE = Path(str(resources.files("gptkit") / "samples" / "lambada_test.jsonl.gz"))
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
    return BUNDLED_FILE


def standard_data_file(cfg: EvalConfig) -> Path:
    """The configured plain-text file, else DATA_DIR/lambada/lambada_test_plain_text.txt (not bundled)."""
    if cfg.lambada.standard_file is not None:
        return require_file(cfg.lambada.standard_file, "LAMBADA plain-text test file", _STANDARD_HINT)
    if cfg.data_dir is None:
        raise MissingTaskData(f"LAMBADA plain-text test file not found; {_STANDARD_HINT}")
    return require_file(cfg.data_dir / STANDARD_FILE, "LAMBADA plain-text test file", _STANDARD_HINT)


_STANDARD_HINT = (
    "put the original LAMBADA release's lambada_test_plain_text.txt at DATA_DIR/lambada/ and pass "
    "--data-dir DATA_DIR, or set eval.lambada.standard_file"
)
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


def load_plain_passages(path: Path) -> list[dict]:
    """One passage per line of the original release (blank lines are an InputError)."""
    docs = []
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            text = line.rstrip("\n")
            if " " not in text.strip():
                raise InputError("expected a passage of several words", path, line_no)
            docs.append({"text": text, "key": str(len(docs)), "group": text})
    if not docs:
        raise InputError("no passages", path)
    return docs


def task(cfg: EvalConfig) -> TaskSpec:
    path = data_file(cfg)
    return _task(cfg, NAME, path, load_passages(path))


def standard_task(cfg: EvalConfig) -> TaskSpec:
    path = standard_data_file(cfg)
    return _task(cfg, STANDARD_NAME, path, load_plain_passages(path))


def _task(cfg: EvalConfig, name: str, path: Path, docs: list[dict]) -> TaskSpec:
    shots = cfg.num_fewshot(cfg.lambada.fewshot_k)
    if shots >= len(docs):
        raise UsageError(f"LAMBADA {shots}-shot needs more than {shots} passages: {path} has {len(docs)}")
    fmt = cfg.lambada.format if cfg.lambada.format != "auto" else ("plain" if shots == 0 else "cloze")
    cloze = fmt == "cloze"
    config = {
        "task": name,
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
        name=name, config=config, num_fewshot=shots, inputs=[path],
        description=config["description"], render_demo=render_cloze_demo if cloze else render_plain_demo,
        settings={"format": fmt, "data_file": str(path), "documents": len(docs)},
    )  # fmt: skip
