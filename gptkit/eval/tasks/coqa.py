"""CoQA: answer questions about a story, conversation style, by greedy generation.

The prompt is GPT-2's: the story, the conversation so far and the question, then ``A:``::

    <story>\n\nQ: <q1>\n\nA: <a1>\n\n … Q: <qn>\n\nA:

Generation stops at ``"\\nQ:"``; the first line of the stripped answer is scored with SQuAD's
EM and F1 against the reference answer and the additional answers (leave-one-out). By
default every turn of every story is a question (GPT-2/GPT-3); ``turns = "last"`` scores only
each story's last turn, as lm-eval's ``coqa`` task does. Demos are whole conversations of
other stories (train stories when a train file is given).
"""

from __future__ import annotations

from pathlib import Path

from gptkit.errors import InputError, UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.squad import score_answer
from gptkit.eval.tasks.common import (
    DemoSampler,
    MissingTaskData,
    TaskSpec,
    demo_pool,
    local_dataset,
    require_file,
)
from gptkit.io.json_files import read_json

NAME = "coqa"
DEV_FILE = Path("coqa") / "coqa-dev-v1.0.json"
TRAIN_FILE = Path("coqa") / "coqa-train-v1.0.json"
STOP = "\nQ:"
_WHERE = "https://nlp.stanford.edu/data/coqa/"


def doc_to_text(doc: dict) -> str:
    parts = [doc["story"], "\n\n"]
    for question, answer in zip(doc["questions"][:-1], doc["answers"], strict=True):
        parts.append(f"Q: {question}\n\nA: {answer}\n\n")
    parts.append(f"Q: {doc['questions'][-1]}\n\nA:")
    return "".join(parts)


def doc_to_target(doc: dict) -> str:
    return doc["golds"][0]


def render_demo(doc: dict) -> str:
    return doc_to_text(doc) + " " + doc_to_target(doc) + "\n\n"


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    prediction = results[0].strip().split("\n")[0]
    return score_answer(doc["golds"], prediction)


def load_stories(path: Path) -> list[dict]:
    """Stories of a CoQA JSON file (``{"data": [story, …]}``, the official format)."""
    data = read_json(path, "not a CoQA JSON file")
    stories = data.get("data") if isinstance(data, dict) else None
    if not isinstance(stories, list) or not stories:
        raise InputError('not a CoQA JSON file (expected {"data": [stories]})', path)
    for i, story in enumerate(stories):
        ok = isinstance(story, dict) and isinstance(story.get("story"), str)
        ok = ok and isinstance(story.get("questions"), list) and isinstance(story.get("answers"), list)
        if not ok or len(story["questions"]) != len(story["answers"]) or not story["questions"]:
            raise InputError(f"story {i}: expected 'story', and as many 'questions' as 'answers'", path)
    return stories


def turn_docs(story: dict, index: int) -> list[dict]:
    """One document per turn: the story, questions 1..n, answers 1..n-1, the gold answers of n."""
    story_id = str(story.get("id", index))
    questions = [q["input_text"] for q in story["questions"]]
    answers = [a["input_text"] for a in story["answers"]]
    extra = story.get("additional_answers") or {}
    docs = []
    for n in range(len(questions)):
        golds = [answers[n]]
        for key in extra:  # lm-eval's rule: add alternatives that differ case-insensitively
            if n < len(extra[key]):
                alt = extra[key][n]["input_text"]
                if alt.lower() not in (g.lower() for g in golds):
                    golds.append(alt)
        docs.append({
            "key": f"{story_id}/{n + 1}", "group": story_id, "turn": n + 1, "story": story["story"],
            "questions": questions[: n + 1], "answers": answers[:n], "golds": golds,
        })  # fmt: skip
    return docs


def dev_file(cfg: EvalConfig) -> Path:
    hint = (
        f"download coqa-dev-v1.0.json from {_WHERE}, put it in DATA_DIR/coqa/ and pass --data-dir DATA_DIR, "
        "or set eval.coqa.dev_file"
    )
    if cfg.coqa.dev_file is not None:
        return require_file(cfg.coqa.dev_file, "CoQA dev file", hint)
    if cfg.data_dir is None:
        raise MissingTaskData(f"CoQA needs its dev file: {hint}", DEV_FILE)
    return require_file(cfg.data_dir / DEV_FILE, "CoQA dev file", hint)


def train_file(cfg: EvalConfig) -> Path | None:
    if cfg.coqa.train_file is not None:
        return require_file(
            cfg.coqa.train_file, "CoQA train file", f"download coqa-train-v1.0.json from {_WHERE}"
        )
    default = cfg.data_dir / TRAIN_FILE if cfg.data_dir is not None else None
    return default if default is not None and default.is_file() else None


def task(cfg: EvalConfig) -> TaskSpec:
    dev_path = dev_file(cfg)
    stories = load_stories(dev_path)
    per_story = [turn_docs(story, i) for i, story in enumerate(stories)]
    docs = (
        [d for turns in per_story for d in turns] if cfg.coqa.turns == "all" else [t[-1] for t in per_story]
    )
    shots = cfg.num_fewshot(cfg.coqa.fewshot_k)
    train_path = train_file(cfg) if shots else None
    if train_path is not None:
        demos = [turn_docs(s, i)[-1] for i, s in enumerate(load_stories(train_path))]
        for d in demos:  # a train story is never the evaluated story
            d["group"] = "train:" + d["group"]
        if len(demos) < shots:
            raise UsageError(f"CoQA {shots}-shot needs {shots} demo stories: {train_path} has {len(demos)}")
    else:
        demos = [turns[-1] for turns in per_story]
        if shots and len(demos) <= shots:
            raise UsageError(
                f"CoQA {shots}-shot needs demos from other stories: {dev_path} has {len(demos)} "
                f"stories; give a train file (eval.coqa.train_file or DATA_DIR/{TRAIN_FILE})"
            )
    config = {
        "task": NAME,
        "custom_dataset": local_dataset({"test": docs}),
        "output_type": "generate_until",
        "test_split": "test",
        "fewshot_split": "test",
        "doc_to_text": doc_to_text,
        "doc_to_target": doc_to_target,
        "process_results": process_results,
        "target_delimiter": " ",
        "fewshot_delimiter": "\n\n",
        "fewshot_config": {"sampler": DemoSampler, "process_docs": demo_pool(demos)},
        "generation_kwargs": {"until": [STOP], "max_gen_toks": cfg.coqa.max_gen_toks, "do_sample": False},
        "metric_list": [
            {"metric": "em", "aggregation": "mean", "higher_is_better": True},
            {"metric": "f1", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0, "turns": cfg.coqa.turns},
    }
    inputs = [dev_path] + ([train_path] if train_path is not None else [])
    settings = {
        "turns": cfg.coqa.turns, "dev_file": str(dev_path), "stories": len(stories), "questions": len(docs),
        "demos_from": str(train_path) if train_path is not None else "other dev stories",
        "max_gen_toks": cfg.coqa.max_gen_toks,
    }  # fmt: skip
    return TaskSpec(
        name=NAME, config=config, num_fewshot=shots, inputs=inputs, render_demo=render_demo, settings=settings
    )
