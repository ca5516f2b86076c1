"""Plan extraction tasks, run them (resumably, on worker processes) and write the manifest."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from gptkit.config import dump_toml, to_dict
from gptkit.data.extract.extractors import decode_html, get_extractor
from gptkit.data.extract.sources import Page, find_inputs, iter_pages, kind_of
from gptkit.errors import UsageError
from gptkit.exec import COMPLETIONS, ExecutorConfig, Phase, executor_for, read_marker
from gptkit.io.atomic import atomic_write_json
from gptkit.io.manifest import Manifest, file_record, input_records
from gptkit.io.shards import Document, IssueLog, ShardWriter, shard_name
from gptkit.reporting import NULL_REPORTER, Reporter
from gptkit.stage import StageRun, Summary, check_inputs, identity

PLAN = "tasks.json"


@dataclass
class ExtractConfig:
    inputs: list[Path] = field(default_factory=list)
    out: Path | None = None
    extractor: Literal["resiliparse-precise", "resiliparse", "trafilatura"] = "resiliparse-precise"
    workers: int = 1
    html_field: str = "html"  # field holding the page in JSONL inputs
    min_chars: int = 1  # pages whose extracted text is shorter are counted as "empty" and dropped
    max_html_bytes: int = 10 << 20  # longer payloads are cut before extraction
    html_files_per_task: int = 256  # at most this many loose .html files per task ...
    html_bytes_per_task: int = 1 << 20  # ... and a task closes once its files reach this many bytes on disk ...
    html_min_tasks: int = 16  # ... or 1/this of all loose HTML bytes, if less: small folders still fan out

    def __post_init__(self) -> None:
        if min(self.html_files_per_task, self.html_bytes_per_task, self.html_min_tasks) < 1:
            raise ValueError("html_files_per_task, html_bytes_per_task and html_min_tasks must be ≥ 1")


@dataclass
class ExtractTask:
    index: int
    kind: str
    files: list[str]
    out: str
    extractor: str
    html_field: str
    min_chars: int
    max_html_bytes: int

    @property
    def task_id(self) -> str:
        return f"{self.index:05d}"


def plan_tasks(cfg: ExtractConfig, files: list[Path]) -> list[ExtractTask]:
    """One task per WARC/WET/JSONL file; loose HTML files, in order, in groups of about equal
    bytes on disk (see ``html_groups``), placed where the first file of each group stood. The plan
    depends on the files alone (never on ``workers``): the same inputs always give the same shards,
    and a rerun with another ``--workers`` resumes the same tasks."""
    pending = iter(html_groups(cfg, [f for f in files if kind_of(f) == "html"]))
    groups: list[tuple[str, list[str]]] = []
    html_left = 0  # files of the current HTML group still to pass
    for f in files:
        kind = kind_of(f)
        if kind != "html":
            groups.append((kind, [str(f)]))
        elif html_left == 0:
            group = next(pending)
            groups.append(("html", [str(g) for g in group]))
            html_left = len(group) - 1
        else:
            html_left -= 1
    common = dict(out=str(cfg.out), extractor=cfg.extractor, html_field=cfg.html_field,
                  min_chars=cfg.min_chars, max_html_bytes=cfg.max_html_bytes)  # fmt: skip
    return [ExtractTask(index=i, kind=kind, files=names, **common) for i, (kind, names) in enumerate(groups)]


def html_groups(cfg: ExtractConfig, files: list[Path]) -> list[list[Path]]:
    """Consecutive runs of ``files`` of about ``target`` bytes each: ``html_bytes_per_task``, or
    ``1/html_min_tasks`` of all their bytes when that is less (so 181 pages of 6 MB make 15 tasks
    and a handful of pages one task each, not one task that leaves the other workers idle). A file
    of ``target`` bytes or more is a task of its own; at most ``html_files_per_task`` files a task."""
    sizes = [f.stat().st_size for f in files]
    target = max(min(cfg.html_bytes_per_task, sum(sizes) / cfg.html_min_tasks), 1)
    groups: list[list[Path]] = []
    group: list[Path] = []
    group_bytes = 0
    for f, size in zip(files, sizes, strict=True):
        if group and size >= target:
            groups.append(group)
            group, group_bytes = [], 0
        group.append(f)
        group_bytes += size
        if len(group) == cfg.html_files_per_task or group_bytes >= target:
            groups.append(group)
            group, group_bytes = [], 0
    return groups + [group] if group else groups


def run_extract_task(task: ExtractTask) -> dict:
    """Extract the pages of one task into shard ``NNNNN.jsonl.zst``; return its counts."""
    extract_text = get_extractor(task.extractor)
    counts: Counter = Counter()
    issues = IssueLog(keep=20)
    shard = Path(task.out) / shard_name(task.index)
    with ShardWriter(shard) as writer:
        for page in iter_pages(task.kind, task.files, issues, task.html_field, task.max_html_bytes,
                               skipped=lambda reason: counts.update([reason])):  # fmt: skip
            counts["pages"] += 1
            doc = _document(page, task, extract_text, counts)
            if doc is not None:
                writer.write(doc)
    counts["documents"] = writer.documents
    counts["bad input"] = issues.total
    return {"shard": shard.name, "documents": writer.documents, "counts": dict(counts), "issues": issues.to_json()}


def _document(page: Page, task: ExtractTask, extract_text, counts: Counter) -> Document | None:
    title = charset = None
    if page.is_text:
        text, extractor = _as_text(page.data), "wet"
    else:
        if isinstance(page.data, bytes):
            html, charset = decode_html(page.data, page.content_type)
        else:
            html = page.data
        try:
            text, title = extract_text(html)
        except Exception as e:  # noqa: BLE001 - a page the library cannot handle must not stop the task
            counts[f"extractor error: {type(e).__name__}"] += 1
            return None
        extractor = task.extractor
    text = text.strip()
    if len(text) < task.min_chars:
        counts["empty"] += 1
        return None
    metadata = {"url": page.url, "title": title, "warc_record_id": page.record_id, "fetch_time": page.fetch_time,
                "extractor": extractor, "charset": charset, "source": page.source}  # fmt: skip
    return {"id": page.id, "text": text, "metadata": {k: v for k, v in metadata.items() if v is not None}}


def _as_text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", errors="replace")


def extract(cfg: ExtractConfig, reporter: Reporter = NULL_REPORTER, executor: ExecutorConfig | None = None) -> Summary:
    """Extract every input into document shards in ``cfg.out``; return the summary. ``executor``
    says where the tasks run (local processes by default); it never changes the output."""
    if cfg.out is None:
        raise UsageError("no output directory (--out)")
    if not cfg.inputs:
        raise UsageError("no inputs")
    out = Path(cfg.out)
    files = find_inputs(cfg.inputs)
    check_inputs(files)
    config = to_dict(cfg)
    run = StageRun("extract", out, identity(config), input_records(files))
    if (done := run.reuse()) is not None:
        return Summary.recorded(out, done, "issue_examples")
    tasks = plan_tasks(cfg, files)
    run.begin()
    _check_plan(out, tasks)

    watched: Counter = Counter()

    @contextmanager
    def watch(phase: Phase) -> Iterator[Callable[[str, dict, bool], None] | None]:
        if phase.rerun:  # the finish
            yield None
            return
        with reporter.task(f"extract ({cfg.extractor})", total=len(tasks), unit="tasks") as progress:
            def on_done(task_id: str, result: dict, skipped: bool) -> None:
                watched.update(result["counts"])
                for example in result["issues"]["examples"] if not skipped else ():
                    reporter.warn(example)
                progress.advance()
                progress.update(documents=watched["documents"])

            yield on_done

    ids, started = [t.task_id for t in tasks], time.time()
    phases = [Phase(run_extract_task, tasks, ids, out, name="extract"),
              Phase(finish_task, [FinishTask(run, cfg, ids, started)], ["finish"], out, name="finish", rerun=True)]
    done = executor_for(cfg.workers, executor).run_stage(phases, watch)[-1]["finish"]
    pages, seconds = done["counts"].get("pages", 0), time.time() - started
    return Summary(str(out), done["counts"], {"issue_examples": done["issue_examples"],
                                              "pages_per_s": round(pages / seconds, 1) if seconds else None})


@dataclass(frozen=True)
class FinishTask:
    run: StageRun
    cfg: ExtractConfig
    task_ids: list[str]
    started: float  # when the run began


def finish_task(task: FinishTask) -> dict:
    """Last phase: the manifest, from the task markers (a task of its own: a Slurm chain ends
    without the submitting process)."""
    run, out = task.run, task.run.out
    results = [read_marker(out, tid) for tid in task.task_ids]
    counts: Counter = Counter()
    examples: list[str] = []
    for result in results:
        counts.update(result["counts"])
        examples.extend(result["issues"]["examples"])
    outputs = [file_record(out / r["shard"], out, documents=r["documents"]) for r in results]
    elapsed = time.time() - task.started
    details = {"issue_examples": examples[:100]}
    dump_toml({"extract": task.cfg}, out / "config.toml")
    run.finish(Manifest(
        stage="extract", config=to_dict(task.cfg), inputs=run.inputs, outputs=outputs, counts=dict(counts),
        timings={"last_run_s": round(elapsed, 3)}, extra=details,
    ))  # fmt: skip
    return {"counts": dict(counts), **details}  # no timing: markers are the same bytes on every executor


def _check_plan(out: Path, tasks: list[ExtractTask]) -> None:
    """Refuse to resume into a directory whose finished tasks belong to other inputs/options."""
    plan = [asdict(t) for t in tasks]
    path = out / PLAN
    started = path.is_file() and (out / COMPLETIONS).is_dir() and os.listdir(out / COMPLETIONS)
    if started and json.loads(path.read_text(encoding="utf-8")) != plan:
        raise UsageError(f"{out} holds an unfinished extract run with other inputs or options: "
                             "rerun that command, or choose another --out")  # fmt: skip
    atomic_write_json(path, plan)
