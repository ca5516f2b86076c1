"""``gptkit finetune``: MODEL + task data → RUN with the fine-tuned model, its head and results.

1. Read the task's train and eval splits (bad rows: one-line errors, or counted skips).
2. ``RUN/init/``: MODEL with the start/delimiter/extract tokens added to its tokenizer and
   embedding (new rows drawn once, seeded), so a resumed run starts from the same weights.
3. Train with :class:`~gptkit.finetune.objective.FinetuneObjective` through the trainer (its
   checkpoints, resume, metrics.jsonl and TensorBoard); every epoch the eval splits are scored.
4. ``RUN/results.json`` (each eval split's official metric) and ``RUN/manifest.json``.

A rerun resumes an interrupted run and reuses a finished one.
"""

from __future__ import annotations

import dataclasses
import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gptkit.config import dump_toml, to_dict
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.finetune.config import FinetuneConfig
from gptkit.finetune.head import TaskHead
from gptkit.finetune.objective import HEAD, FinetuneObjective
from gptkit.finetune.tasks import Split, Task, get_task, load_split
from gptkit.finetune.transforms import add_task_tokens, resize_vocab
from gptkit.io.atomic import atomic_write_json, temp_name
from gptkit.io.json_files import read_json
from gptkit.io.manifest import Manifest, file_record
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.store import load_model, resolve_model_dir, save_model
from gptkit.model.weights import read_weights
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun

INIT = "init"
STAGE = "finetune"
RESULTS = "results.json"
SETTINGS = "finetune.toml"


@dataclass
class FinetuneSummary(StageResult):
    run_dir: Path
    task: str
    step: int
    steps: int
    results: dict[str, Any] | None  # None while the run is paused (stop_after)
    counts: dict[str, Any]
    training: Any = None  # the trainer's TrainSummary (tokens/s, MFU …) of this invocation


def finetune(cfg: FinetuneConfig, reporter: Reporter = NULL_REPORTER) -> FinetuneSummary:
    """Fine-tune (or resume, or reuse) the run ``cfg.out``; see the module docstring."""
    task, data_dir = _check(cfg)
    run = Path(cfg.out)
    train_split, evals = _load_splits(task, cfg, data_dir, reporter)
    inputs = _input_files([train_split, *evals])
    identity = _identity(cfg)
    stage = StageRun(STAGE, run, identity, [file_record(p) for p in inputs])
    if stage.reuse() is not None:
        results = read_json(run / RESULTS, "corrupt results")
        return FinetuneSummary(run, task.name, results["step"], results["step"], results,
                               _counts(train_split, evals), reused=True)  # fmt: skip
    _check_same_run(run, identity)
    stage.claim()  # RUN/init and the settings are written before training
    tokenizer = _prepare_init(cfg, run, reporter)
    objective = FinetuneObjective(task, tokenizer, train_split, evals, cfg.max_len, cfg.lm_weight, cfg.clf_dropout,
                                  cfg.eval_batch, inputs)  # fmt: skip
    dump_toml({"finetune": cfg}, run / SETTINGS)
    from gptkit.train.trainer import train

    summary = train(_train_config(cfg, run, len(train_split.examples)), reporter, objective)
    counts = {**_counts(train_split, evals), "truncated": objective.truncated}
    if summary.step < summary.steps:
        return FinetuneSummary(run, task.name, summary.step, summary.steps, None, counts, training=summary)
    scores = objective.last_scores or score_run(run, objective)
    results = {"task": task.name, "metric": task.metric, "step": summary.step, "splits": scores}
    atomic_write_json(run / RESULTS, results)
    _write_manifest(stage, summary.checkpoint, counts, results)
    return FinetuneSummary(run, task.name, summary.step, summary.steps, results, counts, training=summary)


def _check(cfg: FinetuneConfig) -> tuple[Task, Path]:
    if cfg.model is None or cfg.task is None or cfg.data is None:
        missing = [n for n in ("model", "task", "data") if getattr(cfg, n) is None]
        raise ConfigError(f"finetune.{missing[0]} is not set (give MODEL, --task and --data)")
    data_dir = Path(cfg.data)
    if not data_dir.is_dir():
        raise InputError("no such data directory", data_dir)
    return get_task(cfg.task), data_dir


def _load_splits(task: Task, cfg: FinetuneConfig, data_dir: Path, reporter: Reporter) -> tuple[Split, list[Split]]:
    """The train split and the eval splits found (missing eval splits are named in a warning)."""
    name = cfg.train_split or task.train_split
    train = load_split(task, data_dir, name)
    if train is None or not train.examples:
        raise InputError(f"no examples in the {task.name} split '{name}' (see docs/finetune.md for the layout)",
                         data_dir)  # fmt: skip
    evals, absent = [], []
    for split in cfg.eval_splits or task.eval_splits:
        found = load_split(task, data_dir, split)
        if found is None:
            absent.append(split)
        elif not found.examples:
            raise InputError(f"the eval split '{split}' holds no examples", found.files[0])
        else:
            evals.append(found)
    _subsample(train, cfg, reporter)
    if not evals:
        raise InputError(f"none of the eval splits {', '.join(absent)} is here (set finetune.eval_splits)", data_dir)
    if absent:
        reporter.warn(f"{data_dir}: no eval split {', '.join(absent)}: scoring {', '.join(s.name for s in evals)}")
    for split in (train, *evals):
        if split.skipped:
            reasons = ", ".join(f"{n} ({why})" for why, n in split.skipped.items())
            reporter.warn(f"{split.name}: skipped {reasons}")
    return train, evals


def _subsample(train: Split, cfg: FinetuneConfig, reporter: Reporter) -> None:
    """Keep ``cfg.train_examples`` of the training examples, drawn with ``cfg.seed`` and kept in
    file order: the same subset on every rerun, for budgets that cannot afford a whole split."""
    available = len(train.examples)
    if cfg.train_examples is None or available <= cfg.train_examples:
        return
    keep = sorted(random.Random(cfg.seed).sample(range(available), cfg.train_examples))
    train.examples = [train.examples[i] for i in keep]
    reporter.log(f"{train.name}: training on {cfg.train_examples:,} of {available:,} examples (finetune.train_examples)")


def _prepare_init(cfg: FinetuneConfig, run: Path, reporter: Reporter):
    """The tokenizer with task tokens; writes ``RUN/init`` (MODEL resized for them) once."""
    init, source = run / INIT, str(resolve_model_dir(cfg.model).resolve())
    marker, origin = init / "source.json", {"model": source, "from_scratch": cfg.from_scratch}
    if marker.is_file():
        recorded = read_json(marker, "corrupt init marker")
        if {**recorded, "from_scratch": recorded.get("from_scratch", False)} != origin:
            raise UsageError(f"{run} was started from {recorded}, not {origin}: choose another --out")
        return load_model(init)[1]
    model, tokenizer = load_model(cfg.model)
    if tokenizer is None:
        raise InputError("the model directory has no tokenizer (a gptkit model or transformers GPT dir)", cfg.model)
    if cfg.from_scratch:
        model = _fresh(model.config, cfg.seed)
    tokenizer = add_task_tokens(tokenizer)
    model = resize_vocab(model, tokenizer.vocab_size, torch.Generator().manual_seed(cfg.seed))
    tmp = temp_name(init)
    save_model(tmp, model, tokenizer)
    atomic_write_json(tmp / "source.json", origin)
    shutil.rmtree(init, ignore_errors=True)
    tmp.rename(init)
    what = f"a fresh model of {source}'s shape" if cfg.from_scratch else source
    reporter.log(f"added the task tokens to {what}: vocabulary {tokenizer.vocab_size} → {init}")
    return tokenizer


def _fresh(config: GPTConfig, seed: int) -> GPT:
    """``config``'s model with GPT's own initialisation drawn from ``seed`` (the global RNG is left as it was)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return GPT(config)


def _train_config(cfg: FinetuneConfig, run: Path, n_train: int):
    """The trainer's config: steps from epochs, warmup from its fraction, one evaluation per epoch."""
    t = cfg.train
    per_step = t.batch_size or t.micro_batch
    per_epoch = math.ceil(n_train / per_step)
    steps = max(math.ceil(cfg.epochs * n_train / per_step), 1)
    schedule = dataclasses.replace(t.schedule, warmup_steps=math.ceil(cfg.warmup * steps))
    return dataclasses.replace(t, out=run, init_from=run / INIT, data=None, steps=steps, epochs=None,
                               eval_interval=t.eval_interval or per_epoch, schedule=schedule, seed=cfg.seed)  # fmt: skip


def load_finetuned(run: Path, device: torch.device | str = "cpu") -> tuple[Any, TaskHead, Any, FinetuneConfig]:
    """(GPT, head, tokenizer, config) of a fine-tuning run's latest checkpoint, in eval mode."""
    from gptkit.config import build, load_recipe

    settings = Path(run) / SETTINGS
    if not settings.is_file():
        raise InputError(f"not a fine-tuning run (no {SETTINGS})", run)
    cfg = build(FinetuneConfig, load_recipe(settings).get("finetune", {}), "finetune")
    checkpoint = resolve_model_dir(run)
    gpt, tokenizer = load_model(checkpoint, device=device)
    head = TaskHead(get_task(cfg.task), gpt.config.n_embd, cfg.clf_dropout)
    prefix = f"{HEAD}."
    state = {k[len(prefix) :]: v for k, v in read_weights(checkpoint / "heads.safetensors").items()}
    try:
        head.load_state_dict(state)
    except RuntimeError as e:
        raise InputError(f"head does not fit task {cfg.task}: {str(e).splitlines()[0]}", checkpoint) from None
    return gpt, head.to(device).eval(), tokenizer, cfg


def score_run(run: Path, objective: FinetuneObjective) -> dict[str, dict[str, float]]:
    """The eval splits' metrics of the run's final checkpoint (for a rerun after it finished)."""
    gpt, head, _, _ = load_finetuned(run, objective.setup.device)
    return {s.name: objective.score(gpt, head, objective.encoded_evals[s.name], s) for s in objective.evals}


def _identity(cfg: FinetuneConfig) -> dict[str, Any]:
    """The settings that change the result (not the output path, device, threads or progress)."""
    data = to_dict(cfg)
    data.pop("out")
    for key in ("out", "device", "threads", "stop_after", "resume", "log_interval", "init_from", "data"):
        data["train"].pop(key, None)
    data.pop("data")  # the data files are inputs, compared by hash
    data["model"] = str(resolve_model_dir(cfg.model).resolve())
    return data


def _check_same_run(run: Path, identity: dict[str, Any]) -> None:
    """A run directory continues only the run it was started for: other settings would resume
    (or reuse) checkpoints trained with the old ones."""
    settings = run / SETTINGS
    if not settings.is_file():
        return
    from gptkit.config import build, load_recipe

    recorded = _identity(build(FinetuneConfig, load_recipe(settings).get("finetune", {}), "finetune"))
    if recorded != identity:
        key = next(_differences(recorded, identity), "?")
        raise UsageError(f"{run} holds a fine-tuning run with other settings ({key} differs): "
                         "choose another --out, or delete it to start over")  # fmt: skip


def _differences(a: Any, b: Any, prefix: str = "finetune") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            yield from _differences(a.get(key), b.get(key), f"{prefix}.{key}")
    elif a != b:
        yield prefix


def _input_files(splits: list[Split]) -> list[Path]:
    files: list[Path] = []
    for split in splits:
        for path in split.files:
            files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return sorted(set(files))


def _counts(train: Split, evals: list[Split]) -> dict[str, Any]:
    return {"train": len(train.examples), **{s.name: len(s.examples) for s in evals},
            "skipped": {s.name: dict(s.skipped) for s in (train, *evals) if s.skipped}}  # fmt: skip


def _write_manifest(stage: StageRun, checkpoint: Path | None, counts: dict, results: dict) -> None:
    outputs = [stage.out / RESULTS, *(sorted(p for p in checkpoint.rglob("*") if p.is_file()) if checkpoint else [])]
    stage.finish(Manifest(stage=STAGE, config=stage.identity, inputs=stage.inputs,
                          outputs=[file_record(p, stage.out) for p in outputs], counts=counts,
                          extra={"results": results}))  # fmt: skip
