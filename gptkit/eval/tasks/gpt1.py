"""GPT-1's zero-shot heuristics (Radford et al., 2018, section 5, Figure 2), offline, through lm-eval.

- ``sst2``: append " very" to the sentence and compare the probabilities of " negative" and
  " positive" (accuracy, SST-2 dev).
- ``cola``: the average token log-probability of the sentence, thresholded (Matthews
  correlation, CoLA dev). GPT-1 does not give its threshold; gptkit reports the MCC at the best
  threshold on the scored set (``mcc_best_threshold``: an upper bound for this heuristic).
- ``race``, ``storycloze``: the answer with the highest average log-probability per token given
  the context (accuracy on RACE test, RACE-m / RACE-h too, and Story Cloze 2016 test).

The data are the files ``gptkit finetune`` reads (see docs/finetune.md), found in
``DATA_DIR/<task>/`` or ``DATA_DIR/finetune/<task>/`` (``story_cloze/`` for Story Cloze).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gptkit.errors import InputError, UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.tasks.common import TaskSpec, local_dataset
from gptkit.finetune import metrics
from gptkit.finetune import tasks as ft

#: task → (folders it may live in under DATA_DIR, the split scored)
DATA = {"sst2": (("sst2",), "dev"), "cola": (("cola",), "dev"), "race": (("race",), "test"),
        "storycloze": (("storycloze", "story_cloze"), "test")}  # fmt: skip
NAMES = tuple(DATA)


def _examples(cfg: EvalConfig, name: str) -> tuple[ft.Split, Path]:
    if cfg.data_dir is None:
        raise UsageError(f"task {name} reads local files: give --data-dir DIR holding {DATA[name][0][0]}/")
    folders, split = DATA[name]
    for folder in _candidates(cfg.data_dir, folders):
        found = ft.load_split(ft.TASKS[name], folder, split) if folder.is_dir() else None
        if found is not None and found.examples:
            return found, folder
    raise InputError(f"no {name} {split} split in {DATA[name][0][0]}/ or finetune/{DATA[name][0][0]}/ "
                     "(see docs/finetune.md for its files)", cfg.data_dir)  # fmt: skip


def _candidates(data_dir: Path, folders: tuple[str, ...]) -> list[Path]:
    return [base / f for base in (data_dir, data_dir / "finetune") for f in folders]


def _token_counter(cfg: EvalConfig) -> Callable[[str], int]:
    """Tokens of a continuation under the evaluated model's tokenizer (for per-token averages)."""
    from gptkit.model.store import resolve_model_dir
    from gptkit.tokenizer import load_tokenizer

    if cfg.model is None:
        raise UsageError("eval.model is not set")
    tok = load_tokenizer(resolve_model_dir(cfg.model, cfg.checkpoint))
    return lambda text: max(len(tok.encode(text)), 1)


def _mean_logprob_choice(doc: dict, results: list) -> dict[str, float]:
    """Accuracy of the option with the highest log-likelihood per token."""
    scores = [ll / n for (ll, _), n in zip(results, doc["n_tokens"], strict=True)]
    right = float(max(range(len(scores)), key=scores.__getitem__) == doc["label"])
    return {"acc": right, **({f"acc_{doc['group']}": right} if doc["group"] else {})}


def _choice_task(cfg: EvalConfig, name: str) -> TaskSpec:
    split, folder = _examples(cfg, name)
    count = _token_counter(cfg)
    docs = [{"context": e.texts[0], "options": list(e.texts[1:]), "label": e.label, "group": e.group,
             "n_tokens": [count(" " + o) for o in e.texts[1:]]} for e in split.examples]  # fmt: skip
    groups = sorted({d["group"] for d in docs if d["group"]})
    config = _base(name, docs) | {
        "output_type": "multiple_choice",
        "doc_to_text": lambda d: d["context"],
        "doc_to_choice": lambda d: d["options"],
        "doc_to_target": lambda d: d["label"],
        "process_results": _mean_logprob_choice,
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True}
                        for m in ["acc", *(f"acc_{g}" for g in groups)]],  # fmt: skip
    }
    return _spec(name, config, split, folder)


def _sst2_task(cfg: EvalConfig) -> TaskSpec:
    split, folder = _examples(cfg, "sst2")
    docs = [{"sentence": e.texts[0], "label": e.label} for e in split.examples]
    config = _base("sst2", docs) | {
        "output_type": "multiple_choice",
        "doc_to_text": lambda d: d["sentence"] + " very",
        "doc_to_choice": ["negative", "positive"],
        "doc_to_target": lambda d: d["label"],
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    return _spec("sst2", config, split, folder)


def _best_threshold_mcc(items: list[tuple[float, int]]) -> float:
    """MCC of "acceptable if average log-probability ≥ t" at the best t over the scored set."""
    scores = sorted({s for s, _ in items})
    labels = [label for _, label in items]
    return max(metrics.mcc([int(s >= t) for s, _ in items], labels)["mcc"] for t in scores)


def _cola_task(cfg: EvalConfig) -> TaskSpec:
    split, folder = _examples(cfg, "cola")
    count = _token_counter(cfg)
    docs = [{"sentence": e.texts[0], "label": e.label, "n_tokens": count(e.texts[0])} for e in split.examples]
    config = _base("cola", docs) | {
        "output_type": "loglikelihood_rolling",
        "doc_to_text": lambda d: "",
        "doc_to_target": lambda d: d["sentence"],
        "process_results": lambda d, r: {"mcc_best_threshold": (r[0] / d["n_tokens"], d["label"])},
        "metric_list": [{"metric": "mcc_best_threshold", "aggregation": _best_threshold_mcc, "higher_is_better": True}],
    }
    return _spec("cola", config, split, folder)


def _base(name: str, docs: list[dict]) -> dict:
    return {"task": name, "custom_dataset": local_dataset({"test": docs}), "test_split": "test",
            "metadata": {"version": 1.0, "heuristic": "GPT-1 section 5"}}  # fmt: skip


def _spec(name: str, config: dict, split: ft.Split, folder: Path) -> TaskSpec:
    return TaskSpec(name=name, config=config, num_fewshot=0, inputs=_files(split),
                    settings={"data": str(folder), "split": split.name, "documents": len(split.examples)})  # fmt: skip


def _files(split: ft.Split) -> list[Path]:
    return [f for p in split.files for f in (sorted(p.rglob("*.txt")) if p.is_dir() else [p])]


def _zero_shot_only(build: Callable[[EvalConfig], TaskSpec], name: str) -> Callable[[EvalConfig], TaskSpec]:
    def task(cfg: EvalConfig) -> TaskSpec:
        if cfg.shots != "0":
            raise UsageError(f"task {name} is GPT-1's zero-shot heuristic: use --shots 0")
        return build(cfg)

    return task


TASKS: dict[str, Callable[[EvalConfig], TaskSpec]] = {
    "sst2": _zero_shot_only(_sst2_task, "sst2"),
    "cola": _zero_shot_only(_cola_task, "cola"),
    "race": _zero_shot_only(lambda cfg: _choice_task(cfg, "race"), "race"),
    "storycloze": _zero_shot_only(lambda cfg: _choice_task(cfg, "storycloze"), "storycloze"),
}
