"""Atomic writes: a file appears under its final name only once it is complete.

Data is written to a hidden temporary name in the same directory, flushed to disk and
renamed (``os.replace`` is atomic on POSIX), so a killed process never leaves a file that
looks finished. Leftover temporaries from killed runs are removed by :func:`remove_stale_temps`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_MARK = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Mode of every finished file: what ``open()`` would give under the process's umask. Writers that
#: create files privately (safetensors does, 0600) would otherwise leave them unreadable to others.
FILE_MODE = 0o666 & ~_umask()


def temp_name(final: Path) -> Path:
    """The temporary sibling of ``final`` (hidden, with a unique suffix)."""
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` if the block succeeds.

    On an exception the temporary file is removed and ``final`` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(final)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, FILE_MODE)
            _fsync(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(final: str | Path, data: bytes) -> None:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(final: str | Path, text: str) -> None:
    atomic_write_bytes(final, text.encode("utf-8"))


def atomic_write_json(final: str | Path, obj: Any) -> None:
    atomic_write_text(final, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and TMP_MARK in path.name


def remove_stale_temps(directory: str | Path) -> int:
    """Delete temporaries left by killed runs under ``directory``; return how many."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    n = 0
    for p in directory.rglob(f".*{TMP_MARK}*"):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
