"""The tasks GPT-1 was fine-tuned on, and how each one's files become :class:`Example` lists.

A task names its *family* (which input transform it uses, see :mod:`gptkit.finetune.transforms`),
its labels, its official metric, and where its splits live in a data directory: the layout the
dataset is distributed in (GLUE TSVs, SNLI's aligned files, Story Cloze CSVs, RACE folders), or
``SPLIT.jsonl`` / ``SPLIT.parquet`` / a ``datasets`` folder ``SPLIT/`` with named columns, which
every task accepts and which wins when present.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gptkit.errors import InputError, UsageError
from gptkit.finetune import readers

Family = Literal["classification", "entailment", "similarity", "multiple_choice"]


@dataclass(frozen=True)
class Example:
    """One labelled (or, for prediction, unlabelled) input.

    ``texts``: ``(text,)`` for classification, ``(first, second)`` for entailment and similarity,
    ``(context, option_1, ..., option_k)`` for multiple choice. ``label``: class index, option
    index, a float score (STS-B), or None. ``source``: ``file:line``. ``group``: RACE's
    ``middle``/``high``.
    """

    texts: tuple[str, ...]
    label: int | float | None
    source: str
    group: str = ""


@dataclass
class Split:
    """The examples of one split, the files they came from, and the rows skipped by reason."""

    name: str
    examples: list[Example]
    files: list[Path]
    skipped: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class Columns:
    """Where a TSV keeps a task's texts and label: by header ``names`` (texts…, label), or at
    ``positions`` (same order) in files without a header (CoLA, QQP's subsets, STS-B's test)."""

    names: tuple[str, ...] = ()
    positions: tuple[int, ...] = ()


@dataclass(frozen=True)
class Task:
    name: str
    family: Family
    labels: tuple[str, ...]  # class names in index order; () for regression and multiple choice
    metric: str  # key of gptkit.finetune.metrics.METRICS
    read: Callable[[Task, Path, str], Split | None]  # the dataset's own layout; None = split absent
    eval_splits: tuple[str, ...] = ("dev",)
    train_split: str = "train"
    columns: Columns = Columns()
    files: Mapping[str, str] = field(default_factory=dict)  # split -> file name, where not SPLIT.tsv

    @property
    def regression(self) -> bool:
        return self.family == "similarity" and not self.labels

    @property
    def num_outputs(self) -> int:
        """Width of the head's output: classes, 1 for regression and per multiple-choice option."""
        return len(self.labels) if self.labels else 1


def load_split(task: Task, data_dir: Path, split: str) -> Split | None:
    """The ``split`` of ``task`` in ``data_dir``, or None when the directory does not hold it."""
    table = readers.table_path(data_dir, split)
    if table is not None:
        return _collect(split, [table], (_table_example(task, table, line, rec) for line, rec in readers.read_table(table)))
    return task.read(task, data_dir, split)


def read_file(task: Task, path: Path) -> Split:
    """Examples of one file (or RACE folder) to predict on; labels may be missing."""
    if not path.exists():
        raise InputError("no such file or directory", path)
    if path.suffix in readers.TABLE_SUFFIXES or (path.is_dir() and readers.table_path(path.parent, path.name)):
        return _collect(path.name, [path], (_table_example(task, path, line, rec, labeled=False)
                                            for line, rec in readers.read_table(path)))  # fmt: skip
    if task.read is _read_race and path.is_dir():
        return _collect(path.name, [path], _race_examples(path, labeled=False))
    if task.read is _read_story_cloze:
        return _collect(path.name, [path], _story_examples(path))
    if task.read in (_read_glue, _read_mrpc):
        return _collect(path.name, [path], _tsv_examples(task, path, labeled=False))
    raise InputError(f"task {task.name} reads .jsonl, .parquet or a datasets folder here", path)


# --- GLUE-style TSVs --------------------------------------------------------------------------


def _read_glue(task: Task, data_dir: Path, split: str) -> Split | None:
    path = data_dir / task.files.get(split, f"{split}.tsv")
    if not path.is_file():
        return None
    return _collect(split, [path], _tsv_examples(task, path))


def _read_mrpc(task: Task, data_dir: Path, split: str) -> Split | None:
    """GLUE's MRPC, or its train split rebuilt from the MSR files as GLUE does (the original
    ``msr_paraphrase_train.txt`` minus the pairs listed in ``dev_ids.tsv``)."""
    found = _read_glue(task, data_dir, split)
    source, ids = data_dir / "msr_paraphrase_train.txt", data_dir / "dev_ids.tsv"
    if found is not None or split != "train" or not (source.is_file() and ids.is_file()):
        return found
    dev_pairs = {tuple(fields[:2]) for _, fields in readers.read_tsv(ids)}
    rows = ((line, fields) for line, fields in readers.read_tsv(source) if tuple(fields[1:3]) not in dev_pairs)
    return _collect(split, [source, ids], _tsv_examples(task, source, rows=rows))


def _tsv_examples(task: Task, path: Path, labeled: bool = True, rows=None) -> Iterator[Example | str]:
    """Examples of a TSV; rows with too few fields are yielded as skip reasons (QQP's train
    file has rows whose last tab is a space). Unless ``labeled``, the label is read where present."""
    rows = iter(rows if rows is not None else readers.read_tsv(path))
    first = next(rows, None)
    if first is None:
        return
    cols = task.columns
    if cols.names and set(cols.names[:-1]) <= set(first[1]):
        index = [first[1].index(n) if n in first[1] else None for n in cols.names]
    elif cols.positions:
        index, rows = list(cols.positions), _chain([first], rows)
    else:
        raise InputError(f"expected a header naming the columns {', '.join(cols.names)}", path, first[0])
    *text_at, label_at = index
    if labeled and label_at is None:
        raise InputError(f"no '{cols.names[-1]}' column in the header", path, first[0])
    need = max(i for i in index if i is not None) + 1 if labeled else max(text_at) + 1
    for line, fields in rows:
        if len(fields) < need:
            yield f"fewer than {need} tab-separated fields"
            continue
        has_label = label_at is not None and label_at < len(fields)
        label = _label(task, fields[label_at], path, line) if has_label else None
        if label is _SKIP:
            yield "no gold label"
            continue
        yield Example(tuple(fields[i].strip() for i in text_at), label, f"{path}:{line}")


# --- SNLI, Story Cloze, RACE ------------------------------------------------------------------


def _read_snli(task: Task, data_dir: Path, split: str) -> Split | None:
    """SNLI as ``s1.SPLIT``, ``s2.SPLIT``, ``labels.SPLIT`` (one pair per line in each)."""
    paths = [data_dir / f"{name}.{split}" for name in ("s1", "s2", "labels")]
    if not all(p.is_file() for p in paths):
        return None
    premises, hypotheses, labels = (readers.read_lines(p) for p in paths)
    for p, lines in zip(paths[1:], (hypotheses, labels), strict=True):
        if len(lines) != len(premises):
            raise InputError(f"{len(lines)} lines, but {paths[0].name} has {len(premises)}", p)

    def examples() -> Iterator[Example | str]:
        for line, (a, b, raw) in enumerate(zip(premises, hypotheses, labels, strict=True), 1):
            label = _label(task, raw, paths[2], line)
            yield "no gold label" if label is _SKIP else Example((a.strip(), b.strip()), label, f"{paths[2]}:{line}")

    return _collect(split, paths, examples())


#: The Spring-2016 validation file, which openai's protocol splits into 1,497 train / 374 held out.
STORY_CLOZE_VAL = ("cloze_test_val__spring2016.csv", "cloze_test_val__spring2016 - cloze_test_ALL_val.csv")
STORY_CLOZE_TEST = ("cloze_test_test__spring2016.csv", "cloze_test_test__spring2016 - cloze_test_ALL_test.csv")
STORY_CLOZE_HELD_OUT = 374
STORY_CLOZE_SEED = 42  # finetune-transformer-lm's default seed, which fixes its split


def _read_story_cloze(task: Task, data_dir: Path, split: str) -> Split | None:
    """``test``: the 2016 test file. ``train``/``valid``: the validation file split as
    finetune-transformer-lm does (``train_test_split(test_size=374, random_state=42)``;
    files of another size keep the same 374/1871 fraction)."""
    names = STORY_CLOZE_TEST if split == "test" else STORY_CLOZE_VAL
    path = next((data_dir / n for n in names if (data_dir / n).is_file()), None)
    if path is None or split not in ("train", "valid", "test"):
        return None
    whole = _collect(split, [path], _story_examples(path))
    if split == "test":
        return whole
    from sklearn.model_selection import train_test_split

    n = len(whole.examples)
    held_out = round(n * STORY_CLOZE_HELD_OUT / 1871)
    if n < 2 or held_out < 1:
        raise InputError(f"{n} stories: too few to hold {STORY_CLOZE_HELD_OUT}/1871 of them out", path)
    train, valid = train_test_split(whole.examples, test_size=held_out, random_state=STORY_CLOZE_SEED)
    whole.examples = train if split == "train" else valid
    return whole


STORY_COLUMNS = ("InputSentence1", "InputSentence2", "InputSentence3", "InputSentence4",
                 "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2")  # fmt: skip


def _story_examples(path: Path) -> Iterator[Example]:
    rows = readers.read_csv(path)
    line, header = next(rows, (1, []))
    missing = [c for c in STORY_COLUMNS if c not in header]
    if missing:
        raise InputError(f"not a Story Cloze CSV: no column {missing[0]} in the header", path, line)
    index = [header.index(c) for c in STORY_COLUMNS]
    answer_at = header.index("AnswerRightEnding") if "AnswerRightEnding" in header else None
    for line, row in rows:
        if len(row) != len(header):
            raise InputError(f"{len(row)} fields, the header has {len(header)}", path, line)
        s1, s2, s3, s4, e1, e2 = (row[i].strip() for i in index)
        label = None
        if answer_at is not None:
            if row[answer_at].strip() not in ("1", "2"):
                raise InputError(f"AnswerRightEnding must be 1 or 2, got {row[answer_at]!r}", path, line)
            label = int(row[answer_at]) - 1
        yield Example((f"{s1} {s2} {s3} {s4}", e1, e2), label, f"{path}:{line}")


def _read_race(task: Task, data_dir: Path, split: str) -> Split | None:
    folder = data_dir / split
    if not any((folder / level).is_dir() for level in ("middle", "high")):
        return None
    return _collect(split, [folder], _race_examples(folder))


def _race_examples(folder: Path, labeled: bool = True) -> Iterator[Example]:
    """One example per question: context = article + newline + question, four options."""
    for level in ("middle", "high"):
        for path in sorted((folder / level).glob("*.txt"), key=_natural):
            item = readers.read_json_file(path)
            if not isinstance(item, dict) or not all(k in item for k in ("article", "questions", "options")):
                raise InputError("not a RACE file (expected article, questions, options, answers)", path)
            answers = item.get("answers") or [None] * len(item["questions"])
            if not len(item["questions"]) == len(item["options"]) == len(answers):
                raise InputError("questions, options and answers differ in length", path)
            for q, (question, options, answer) in enumerate(zip(item["questions"], item["options"], answers, strict=True)):
                if len(options) != 4:
                    raise InputError(f"question {q + 1} has {len(options)} options, expected 4", path)
                if labeled and answer not in ("A", "B", "C", "D"):
                    raise InputError(f"question {q + 1}: answer must be A-D, got {answer!r}", path)
                label = "ABCD".index(answer) if answer in ("A", "B", "C", "D") else None
                context = f"{item['article']}\n{question}"
                yield Example((context, *options), label, f"{path}:q{q + 1}", level)


# --- named-column tables ----------------------------------------------------------------------

#: Column names a table may use for each text field (first match wins).
TABLE_COLUMNS = {
    "classification": (("text", "sentence"),),
    "pair": (("text_a", "premise", "sentence1", "question1"), ("text_b", "hypothesis", "sentence2", "question2")),
    "multiple_choice": (("context",), ("options",)),
}


def _table_example(task: Task, path: Path, line: int, record: Mapping[str, Any], labeled: bool = True) -> Example | str:
    kind = task.family if task.family in ("classification", "multiple_choice") else "pair"
    texts = []
    for aliases in TABLE_COLUMNS[kind]:
        name = next((a for a in aliases if a in record), None)
        if name is None:
            raise InputError(f"missing column '{aliases[0]}' (columns: {', '.join(record)})", path, line)
        texts.extend(_options(record[name], path, line) if name == "options" else [str(record[name])])
    if not labeled and record.get("label") is None:
        return Example(tuple(texts), None, f"{path}:{line}")
    if "label" not in record:
        raise InputError(f"missing column 'label' (columns: {', '.join(record)})", path, line)
    label = _label(task, record["label"], path, line, n_options=len(texts) - 1)
    return "no gold label" if label is _SKIP else Example(tuple(texts), label, f"{path}:{line}")


def _options(value: Any, path: Path, line: int) -> list[str]:
    if not isinstance(value, list) or len(value) < 2:
        raise InputError(f"'options' must be a list of at least 2 answers, got {value!r}", path, line)
    return [str(v) for v in value]


# --- shared helpers ---------------------------------------------------------------------------

_SKIP = object()  # a row the dataset marks as having no gold label (SNLI's "-")


def _label(task: Task, raw: Any, path: Path, line: int, n_options: int = 0) -> int | float | object:
    """Class index (from the label's name or its index), option index, or float score."""
    value = raw.strip() if isinstance(raw, str) else raw
    if value == "-" and task.labels:
        return _SKIP
    if task.regression:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InputError(f"expected a number as the score, got {raw!r}", path, line) from None
    choices = task.labels or tuple(str(i) for i in range(n_options))
    if str(value) in choices:
        return choices.index(str(value))
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(choices):
        return value
    raise InputError(f"unknown label {raw!r} (expected one of: {', '.join(choices)})", path, line)


def _collect(split: str, files: list[Path], items: Iterable[Example | str]) -> Split:
    out = Split(split, [], files)
    for item in items:
        if isinstance(item, str):
            out.skipped[item] += 1
        else:
            out.examples.append(item)
    return out


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _natural(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 62, path.stem)


# --- the registry -----------------------------------------------------------------------------

_BINARY = ("0", "1")
_NLI = ("entailment", "neutral", "contradiction")
_ENTAIL2 = ("entailment", "not_entailment")


def _glue(name: str, family: Family, labels: tuple[str, ...], metric: str, columns: Columns, **kw: Any) -> Task:
    return Task(name, family, labels, metric, _read_glue, columns=columns, **kw)


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        _glue("sst2", "classification", _BINARY, "accuracy", Columns(("sentence", "label"))),
        _glue("cola", "classification", _BINARY, "mcc", Columns(positions=(3, 1))),
        _glue("rte", "entailment", _ENTAIL2, "accuracy", Columns(("sentence1", "sentence2", "label"))),
        _glue("qnli", "entailment", _ENTAIL2, "accuracy", Columns(("question", "sentence", "label"))),
        _glue("mnli", "entailment", _NLI, "accuracy", Columns(("sentence1", "sentence2", "gold_label"), (1, 2, 0)),
              eval_splits=("dev_matched", "dev_mismatched")),  # fmt: skip
        _glue("scitail", "entailment", ("entails", "neutral"), "accuracy", Columns(positions=(0, 1, 2)),
              files={s: f"scitail_1.0_{s}.tsv" for s in ("train", "dev", "test")}, eval_splits=("test",)),  # fmt: skip
        Task("snli", "entailment", _NLI, "accuracy", _read_snli, eval_splits=("test",)),
        Task("mrpc", "similarity", _BINARY, "f1_accuracy", _read_mrpc,
             columns=Columns(("#1 String", "#2 String", "Quality")), files={"test": "msr_paraphrase_test.txt"}),  # fmt: skip
        _glue("qqp", "similarity", _BINARY, "f1_accuracy",
              Columns(("question1", "question2", "is_duplicate"), (3, 4, 5))),  # fmt: skip
        _glue("stsb", "similarity", (), "pearson_spearman", Columns(("sentence1", "sentence2", "score"), (5, 6, 4)),
              files={"test": "sts-test.tsv"}),  # fmt: skip
        Task("storycloze", "multiple_choice", (), "accuracy", _read_story_cloze, eval_splits=("valid", "test")),
        Task("race", "multiple_choice", (), "accuracy", _read_race, eval_splits=("dev", "test")),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UsageError(f"unknown task {name!r} (known: {', '.join(TASKS)})")
    return TASKS[name]
