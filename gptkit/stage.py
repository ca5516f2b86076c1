"""The stage runner: what every stage does before and after its own work.

A stage (``data urls`` … ``import``) turns inputs + a config into an output folder. Around its
own work, each one goes through a :class:`StageRun`:

1. :meth:`StageRun.reuse` refuses a ``--out`` folder that belongs to another stage or holds files
   gptkit did not write, then returns the manifest of a finished run with the same *identity*
   and inputs, if the folder holds one (the caller then returns it with ``reused=True``);
2. :meth:`StageRun.begin` marks the folder as this stage's (``.gptkit-stage.json``, written before
   any output) and drops the manifest of an earlier run, so a reader can tell an unfinished
   folder from a finished one;
3. :meth:`StageRun.finish` writes the manifest, identity included.

The *identity* holds only the settings that change the output: paths, threads, workers, device
and progress settings never belong in it, so ``--threads 2`` reuses what ``--threads 8`` made.
Input files count by content (hash and size), not by the path they were given as.

Stages reading another stage's output call :func:`check_inputs`: a folder marked by a stage but
without that stage's manifest is an unfinished (running or killed) run and is refused; plain
user files, which carry no marker, are read as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gptkit.errors import UsageError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.manifest import MANIFEST, Manifest, verify

#: Written into an output folder when a stage starts, before any output: names the stage.
STAGE_FILE = ".gptkit-stage.json"

#: The command of each stage, as users type it (used in messages).
COMMANDS = {
    "urls": "data urls", "crawl": "data crawl", "extract": "data extract", "clean": "data clean",
    "tokenizer": "tokenizer train", "pack": "data pack", "train": "train", "eval": "eval",
    "export": "export", "import": "import", "sft": "sft",
    "finetune": "finetune", "data chat": "data chat", "data prefs": "data prefs", "rm": "rm train", "ppo": "ppo",
}  # fmt: skip

#: Config keys that never change a stage's output (dotted for nested tables).
RUN_ONLY = ("out", "inputs", "threads", "workers", "device", "progress_every")


@dataclass(kw_only=True)
class StageResult:
    """What every stage returns: ``reused`` is true when a finished output was kept as it was.

    Stage summaries derive from it; the pipeline and the CLI read ``reused`` and nothing else to
    tell a rerun from a run."""

    reused: bool = False


@dataclass
class Summary(StageResult):
    """The result of a stage with no summary type of its own: its counts and other figures."""

    out: str
    counts: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def recorded(cls, out: Path, manifest: dict[str, Any], *keys: str) -> Summary:
        """What a finished run reported, read back from its manifest: its counts and ``keys``."""
        details = {k: manifest[k] for k in keys if k in manifest}
        return cls(str(out), manifest.get("counts", {}), details, reused=True)


def identity(config: Mapping[str, Any], run_only: Iterable[str] = RUN_ONLY) -> dict[str, Any]:
    """``config`` (a plain dict) without the ``run_only`` keys, as JSON would store it."""
    data = json.loads(json.dumps(config, default=str))
    for dotted in run_only:
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return data


@dataclass
class StageRun:
    """One run of ``stage`` into ``out`` with the given identity and input file records."""

    stage: str
    out: Path
    identity: dict[str, Any]
    inputs: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.identity = json.loads(json.dumps(self.identity, default=str))

    @property
    def command(self) -> str:
        return COMMANDS.get(self.stage, self.stage)

    def reuse(self) -> dict[str, Any] | None:
        """The manifest of a finished run of the same identity and inputs in ``out``, else None."""
        check_out_dir(self.out, self.stage)
        manifest = _read(self.out / MANIFEST)
        if manifest is None or manifest.get("stage") != self.stage or manifest.get("identity") != self.identity:
            return None
        if _by_content(manifest.get("inputs", [])) != _by_content(self.inputs):
            return None
        try:
            return manifest if not verify(self.out, check_hashes=False) else None
        except (UsageError, KeyError, TypeError, AttributeError):  # a hand-edited manifest: run again
            return None

    def claim(self) -> None:
        """Mark ``out`` as this stage's, for a stage that writes preparatory files before it knows
        whether a finished run can be reused (``sft`` writes ``RUN/base`` before training)."""
        check_out_dir(self.out, self.stage)
        self.out.mkdir(parents=True, exist_ok=True)
        if not (self.out / STAGE_FILE).is_file():
            atomic_write_json(self.out / STAGE_FILE, {"stage": self.stage, "command": self.command})

    def begin(self) -> None:
        """Claim ``out`` for this stage before anything is written; an old manifest goes, since
        the folder is unfinished from now until :meth:`finish`."""
        self.claim()
        (self.out / MANIFEST).unlink(missing_ok=True)

    def finish(self, manifest: Manifest) -> None:
        """Write the manifest (with the identity a rerun compares against): the run is finished."""
        manifest.extra = {**manifest.extra, "identity": self.identity}
        manifest.write(self.out)


def check_out_dir(out: Path, stage: str) -> None:
    """Refuse an output folder that holds another stage's output or files gptkit did not write."""
    out = Path(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    owner = _owner(out)
    if owner is None and any(out.iterdir()):
        raise UsageError(f"--out {out} holds files gptkit did not write: choose a new or empty folder")
    if owner is not None and owner != stage:
        raise UsageError(f"--out {out} holds a `{COMMANDS.get(owner, owner)}` output, not a "
                         f"`{COMMANDS.get(stage, stage)}` one: choose another folder")  # fmt: skip


def check_inputs(paths: Iterable[str | Path], partial_ok: Iterable[str] = ()) -> None:
    """Refuse inputs inside a gptkit output folder whose stage has not finished.

    ``partial_ok`` names stages whose unfinished folders are readable: a training run's every
    checkpoint is whole on its own, so a paused or running run can be evaluated or exported."""
    partial_ok = set(partial_ok)
    seen: set[Path] = set()
    for path in paths:
        start = Path(path)
        for folder in (start, *start.parents):
            if folder in seen:
                break
            seen.add(folder)
            marker = _read(folder / STAGE_FILE)
            if marker is None:
                continue
            stage = marker.get("stage")
            manifest = _read(folder / MANIFEST)
            if stage not in partial_ok and (manifest is None or manifest.get("stage") != stage):
                raise UsageError(f"{folder} is an unfinished `{COMMANDS.get(stage, stage)}` run: rerun it first")
            break


def _owner(out: Path) -> str | None:
    """The stage that wrote ``out``: its marker, or (for folders from before markers) its manifest."""
    for name in (STAGE_FILE, MANIFEST):
        data = _read(out / name)
        if data is not None and isinstance(data.get("stage"), str):
            return data["stage"]
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _by_content(records: list[dict]) -> list[tuple]:
    """Inputs compared by content (hash, size), not by the path they were given as."""
    return sorted((str(r.get("hash")), r.get("bytes") or 0) for r in records if isinstance(r, dict))
