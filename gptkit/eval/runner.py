"""``evaluate(config, reporter)``: a model on LAMBADA/CoQA (or lm-eval tasks) → results on disk.

Steps: build the tasks (gptkit's from local files; other names through lm-eval's task index,
offline), load the model with ``load_model`` (gptkit dirs, run dirs, HF GPT-2 dirs), wrap it in
:class:`~gptkit.eval.adapter.GptkitLM` behind lm-eval's request cache (one cache per model
fingerprint), run ``lm_eval.evaluator.evaluate`` with the demo seed, then write
``results.json``, ``samples_<task>.jsonl``, ``config.toml`` and ``manifest.json`` to the output
directory. A finished output directory with the same config, data and weights is not redone.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptkit.chat.template import template_of
from gptkit.config import dump_toml, to_dict
from gptkit.errors import InputError, UsageError
from gptkit.eval.config import EvalConfig
from gptkit.eval.results import RESULTS_FILE, write_results
from gptkit.io.manifest import Manifest, file_record, input_records, library_versions
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageResult, StageRun, check_inputs, identity

STAGE = "eval"
#: Settings that never change the scores (the model and task files count by content instead).
RUN_ONLY = ("out", "model", "threads", "device", "cache", "data_dir")
#: demos per prompt for ``--shots few`` on lm-eval tasks gptkit does not define
PASSTHROUGH_FEWSHOT_K = 5


@dataclass
class EvalResult(StageResult):
    """lm-eval's results dict (with a ``gptkit`` table) and the folder it was written to."""

    out: Path
    results: dict[str, Any]


def evaluate(config: EvalConfig, reporter: Reporter = NULL_REPORTER) -> EvalResult:
    """Evaluate ``config.model`` on ``config.tasks``; write and return lm-eval's results dict
    (with a ``gptkit`` table: model, shots, task settings, truncated prompts and demos)."""
    _quiet_offline_lm_eval()
    if config.model is None:
        raise UsageError(
            "no model given: pass a gptkit run/checkpoint/model directory or an HF GPT-2 directory"
        )
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    if not Path(config.model).exists():  # before the task data checks: the first thing to fix
        raise InputError("no such model directory", config.model)
    check_inputs([config.model], partial_ok=("train",))
    if config.reward.model is not None:
        from gptkit.eval.reward import evaluate_reward

        out, results, reused = evaluate_reward(config, STAGE, RUN_ONLY)
        return EvalResult(out, results, reused=reused)
    out = config.out_dir()
    t0 = time.time()
    specs, task_dict = _load_tasks(config, reporter)
    model, tok = _load_model(config)
    template = template_of(tok, config.model) if config.chat_template else None
    fingerprint = model_fingerprint(model, tok)
    data_files = [p for spec in specs for p in spec.inputs] + _passthrough_inputs(config, specs, task_dict)
    inputs = input_records(data_files)
    manifest_config = {**to_dict(config), "model_hash": fingerprint}
    run = StageRun(STAGE, out, identity(manifest_config, RUN_ONLY), inputs)
    if run.reuse() is not None:
        return EvalResult(out, json.loads((out / RESULTS_FILE).read_text(encoding="utf-8")), reused=True)
    run.begin()
    t_load = time.time()

    import lm_eval.evaluator
    from lm_eval.api.model import CachingLM

    from gptkit.eval.adapter import GptkitLM
    from gptkit.runtime import seed_everything

    lm = GptkitLM(model, tok, batch_size=config.batch_size, reporter=reporter, template=template)
    runner: Any = (
        CachingLM(lm, str(out / "cache" / fingerprint.split(":")[-1][:16] / "requests"))
        if config.cache
        else lm
    )
    seed_everything(config.seed)
    with contextlib.redirect_stdout(io.StringIO()):  # lm-eval prints progress notes on stdout
        raw = lm_eval.evaluator.evaluate(
            lm=runner,
            task_dict=task_dict,
            limit=config.limit,
            bootstrap_iters=config.bootstrap_iters,
            log_samples=True,
            **_chat_options(config),
        )
    t_eval = time.time()
    samples = raw.pop("samples")
    truncation = {
        name: truncation_report(task_dict["tasks"][name], samples[name], _spec(specs, name), tok, lm)
        for name in samples
    }
    for name, report in truncation.items():
        if report["prompts_truncated"]:
            reporter.warn(truncation_message(name, report, lm.max_length))
    results = {**raw, **_run_info(config, out, t0), **_chat_info(config, lm), "gptkit": {
        "model": {
            "path": str(config.model), "hash": fingerprint, "params": model.num_params(non_embedding=False),
            "block_size": model.config.block_size, "tokenizer_hash": tok.hash,
        },
        "shots": config.shots,
        "tasks": {spec.name: spec.settings for spec in specs},
        "truncation": truncation,
        "versions": library_versions(),
    }}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    written = write_results(out, results, samples)
    dump_toml({STAGE: config}, out / "config.toml")
    timings = {"load": t_load - t0, "evaluate": t_eval - t_load, "total": time.time() - t0}
    run.finish(Manifest(
        stage=STAGE, config=manifest_config, inputs=inputs, outputs=[file_record(p, out) for p in written],
        counts={name: len(rows) for name, rows in samples.items()},
        timings={k: round(v, 3) for k, v in timings.items()},
    ))  # fmt: skip
    return EvalResult(out, results)


def _run_info(config: EvalConfig, out, started: float) -> dict[str, Any]:
    """The ``config`` and ``date`` entries ``lm_eval.simple_evaluate`` adds to its results."""
    return {
        "config": {
            "model": "gptkit", "model_args": str(config.model), "batch_size": config.batch_size,
            "device": config.device, "use_cache": str(out / "cache") if config.cache else None,
            "limit": config.limit, "bootstrap_iters": config.bootstrap_iters, "gen_kwargs": None,
            "random_seed": config.seed, "numpy_seed": config.seed, "torch_seed": config.seed,
            "fewshot_seed": config.seed,
        },
        "date": started,
    }  # fmt: skip


def _chat_options(config: EvalConfig) -> dict[str, Any]:
    """lm-eval's ``evaluate`` arguments for chat-template prompts and a system instruction."""
    return {
        "system_instruction": config.system_instruction,
        "apply_chat_template": config.chat_template,
        "fewshot_as_multiturn": config.chat_template and config.fewshot_as_multiturn,
    }


def _chat_info(config: EvalConfig, lm: Any) -> dict[str, Any]:
    """The chat entries lm-eval's evaluation tracker adds to its results."""
    from lm_eval.utils import hash_string

    template, system = lm.chat_template(config.chat_template), config.system_instruction
    return {
        "system_instruction": system, "system_instruction_sha": hash_string(system) if system else None,
        "fewshot_as_multiturn": _chat_options(config)["fewshot_as_multiturn"],
        "chat_template": template, "chat_template_sha": hash_string(template) if template else None,
    }  # fmt: skip


def _quiet_offline_lm_eval() -> None:
    """No hub access, no tqdm bars and no INFO/WARNING chatter from lm-eval or datasets."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("DISABLE_MULTIPROC", "1")  # bootstrap in-process: no forked pool beside torch
    for name in ("lm_eval", "lm-eval", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _load_tasks(config: EvalConfig, reporter: Reporter) -> tuple[list, dict[str, Any]]:
    """gptkit's task specs and lm-eval's task dict (with shots and demo seed set) for ``config.tasks``."""
    from gptkit.eval.tasks import DEFAULT_TASKS, LM_EVAL_NAMES, TASKS

    names = list(dict.fromkeys(LM_EVAL_NAMES.get(name, name) for name in config.tasks))
    specs = _own_task_specs(config, names or list(DEFAULT_TASKS), reporter)
    others = [name for name in names if name not in TASKS]

    from lm_eval.tasks import TaskManager

    task_dict = TaskManager(include_defaults=False).load([spec.config for spec in specs]) if specs else {}
    if others:
        task_dict = _merge(task_dict, _load_passthrough(others, config.include_path))
    shots = {spec.name: spec.num_fewshot for spec in specs}
    for name, task in task_dict["tasks"].items():
        task.set_config(key="num_fewshot", value=shots.get(name, config.num_fewshot(PASSTHROUGH_FEWSHOT_K)))
        task.set_fewshot_seed(seed=config.seed)
    return specs, task_dict


def _own_task_specs(config: EvalConfig, names: list[str], reporter: Reporter) -> list:
    """Specs of the gptkit tasks among ``names``. With no task named, a task whose data is absent
    is skipped with the reason instead of failing the run."""
    from gptkit.eval.tasks import TASKS
    from gptkit.eval.tasks.common import MissingTaskData

    specs = []
    for name in (n for n in names if n in TASKS):
        try:
            specs.append(TASKS[name](config))
        except MissingTaskData as e:
            if config.tasks:
                raise
            reporter.warn(f"skipped {name}: {e}")
    if not specs and not config.tasks:
        raise UsageError("no task has its data here: pass --data-dir or name the tasks with --tasks")
    return specs


def _load_passthrough(names: list[str], include_path: list[Path]) -> dict[str, Any]:
    """lm-eval tasks by name: from the ``include_path`` YAMLs, else lm-eval's own (their index
    is built only then: ~10 s). Their data must be local files or in the datasets cache."""
    from lm_eval.tasks import TaskManager

    from gptkit.eval.tasks import TASKS

    for folder in include_path:
        if not Path(folder).is_dir():
            raise UsageError(f"include_path: no such folder: {folder}")
    paths = [str(p) for p in include_path] or None
    manager = TaskManager(include_path=paths, include_defaults=False) if paths else None
    if manager is None or any(name not in manager.all_tasks for name in names):
        manager = TaskManager(include_path=paths)
    unknown = [name for name in names if name not in manager.all_tasks]
    if unknown:
        raise UsageError(
            f"unknown task '{unknown[0]}' (gptkit's tasks: {', '.join(TASKS)}; or any lm-eval task whose data "
            "is available locally, or one defined in an --include-path folder)"
        )
    try:
        return manager.load(names)
    except Exception as e:  # datasets' offline/missing-data errors come in many types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(
            f"lm-eval task(s) {', '.join(names)}: data not available offline ({type(e).__name__}: {first})"
        ) from None


def _passthrough_inputs(config: EvalConfig, specs: list, task_dict: dict[str, Any]) -> list[Path]:
    """What a pass-through task reads that can change: the include-path YAMLs and the local
    ``data_files`` of each task (so editing either re-runs the evaluation)."""
    own = {spec.name for spec in specs}
    files = sorted(f for folder in config.include_path for f in Path(folder).rglob("*.y*ml") if f.is_file())
    for name, task in task_dict["tasks"].items():
        if name in own:
            continue
        data_files = (getattr(task.config, "dataset_kwargs", None) or {}).get("data_files")
        values = data_files.values() if isinstance(data_files, dict) else [data_files]
        for value in values:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and Path(item).is_file():
                    files.append(Path(item))
    return files


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {key: {**a.get(key, {}), **b.get(key, {})} for key in ("tasks", "groups", "group_map")}


def _load_model(config: EvalConfig):
    from gptkit.model.store import load_model
    from gptkit.runtime import resolve_device

    model, tok = load_model(config.model, device=resolve_device(config.device), which=config.checkpoint)
    if tok is None:
        raise InputError(
            "the model directory has no tokenizer (gptkit: tokenizer/; transformers: tokenizer.json)",
            config.model,
        )
    return model, tok


def model_fingerprint(model: Any, tok: Any) -> str:
    """A content hash of the weights, the context length and the tokenizer (names the request cache)."""
    import torch
    import xxhash

    h = xxhash.xxh3_128()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    h.update(f"{model.config.block_size}|{tok.hash}".encode())
    return f"xxh3_128:{h.hexdigest()}"


def _spec(specs: list, name: str):
    return next((spec for spec in specs if spec.name == name), None)


def truncation_report(task: Any, samples: list[dict], spec: Any, tok: Any, lm: Any) -> dict[str, int]:
    """How many prompts did not fit the model's context (and were left-truncated), and how many
    of their demos were cut (wholly or partly), counted from the rendered demos."""
    if task.OUTPUT_TYPE == "loglikelihood_rolling":  # rolling windows cover any length
        return {"prompts": len(samples), "prompts_truncated": 0, "demos": 0, "demos_truncated": 0}
    texts, room = [], []
    for s in samples:
        args = s["arguments"][0]  # multiple choice: the first choice stands for the others
        if task.OUTPUT_TYPE == "generate_until":  # room is left for the answer
            texts.append(args[0])
            room.append(lm.max_length - int(args[1].get("max_gen_toks", lm.max_gen_toks)))
        else:  # the window holds max_length + 1 tokens of context + continuation
            texts.append(args[0] + args[1])
            room.append(lm.max_length + 1)
    sampler = getattr(task, "sampler", None)
    drawn = getattr(sampler, "drawn", {})
    report = {"prompts": len(samples), "prompts_truncated": 0, "demos": 0, "demos_truncated": 0}
    for s, ids, limit in zip(samples, tok.encode_batch(texts), room, strict=True):
        demos = drawn.get(s["doc"].get("key"), []) if isinstance(s["doc"], dict) else []
        report["demos"] += len(demos)
        cut = len(ids) - limit
        if cut <= 0:
            continue
        report["prompts_truncated"] += 1
        chars_cut = len(tok.decode(ids[:cut]))
        start = len(spec.description) if spec is not None else 0
        for demo in demos:
            if start >= chars_cut or spec is None or spec.render_demo is None:
                break
            report["demos_truncated"] += 1
            start += len(spec.render_demo(demo))
    return report


def truncation_message(task: str, report: dict[str, int], context: int) -> str:
    text = (
        f"{task}: {report['prompts_truncated']} of {report['prompts']} prompts are longer than the model's "
        f"{context}-token context and were left-truncated"
    )
    if report["demos"]:
        text += f"; {report['demos_truncated']} of {report['demos']} demos were cut (use fewer shots or a longer context)"
    return text
