"""Training checkpoints: atomic directories with weights, optimizer, loader and RNG state.

Layout of a run directory::

    RUN/checkpoints/step_00000100/   model files (gptkit.model.store.save_model), optimizer.pt, state.json
                                     (+ heads.safetensors: the objective's heads, when it has any)
    RUN/latest                       name of the newest checkpoint directory
    RUN/best                         name of the checkpoint with the lowest validation loss

A checkpoint is written into a hidden temporary directory and renamed when complete, so a killed
run never leaves a checkpoint that looks finished. Loading never unpickles arbitrary objects:
weights are safetensors, ``optimizer.pt`` is read with ``torch.load(weights_only=True)`` and the
rest is JSON.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gptkit.errors import InputError
from gptkit.io.atomic import TMP_MARK, atomic_write_text
from gptkit.io.json_files import read_json
from gptkit.model.store import is_checkpoint_name

CHECKPOINTS = "checkpoints"
OPTIMIZER = "optimizer.pt"
HEADS = "heads.safetensors"
STATE = "state.json"
LATEST = "latest"
BEST = "best"


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def save_checkpoint(
    run_dir: Path,
    step: int,
    write_model: Callable[[Path], None],
    optimizer_state: dict,
    state: dict[str, Any],
    keep_last: int,
    is_best: bool = False,
    keep: frozenset[int] = frozenset(),
) -> Path:
    """Write checkpoint ``step`` atomically, point ``latest`` (and ``best``) at it, prune old ones.

    ``write_model(dir)`` writes the weights (``gptkit.model.store.save_model``); ``state`` is JSON-serialisable.
    Checkpoints beyond the newest ``keep_last`` are deleted, except the one ``best`` names and those
    of the steps in ``keep`` (fork points of cooldown branches).
    """
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = checkpoint_name(step)
    final = root / name
    tmp = root / f".{name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        write_model(tmp)
        torch.save(optimizer_state, tmp / OPTIMIZER)
        (tmp / STATE).write_text(json.dumps({"step": step, **state}, indent=1) + "\n", encoding="utf-8")
        for f in tmp.iterdir():
            _fsync(f)
        if final.exists():  # the same step saved again (e.g. end of run after a periodic save)
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(Path(run_dir) / LATEST, name + "\n")
    if is_best:
        atomic_write_text(Path(run_dir) / BEST, name + "\n")
    prune(run_dir, keep_last, keep)
    return final


def prune(run_dir: Path, keep_last: int, keep_steps: frozenset[int] = frozenset()) -> list[str]:
    """Delete all but the newest ``keep_last`` checkpoints (and the best, and those of ``keep_steps``);
    return deleted names."""
    names = list_checkpoints(run_dir)
    pointers = {_read_pointer(Path(run_dir) / BEST), _read_pointer(Path(run_dir) / LATEST)}
    keep = set(names[-keep_last:]) | pointers | {checkpoint_name(s) for s in keep_steps}
    deleted = [n for n in names if n not in keep]
    for n in deleted:
        shutil.rmtree(Path(run_dir) / CHECKPOINTS / n, ignore_errors=True)
    return deleted


def list_checkpoints(run_dir: Path) -> list[str]:
    """Names of finished checkpoints, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("step_"))


def remove_stale(run_dir: Path) -> int:
    """Delete temporary checkpoint directories left by a killed run; return how many."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return 0
    stale = [p for p in root.iterdir() if p.name.startswith(".") and TMP_MARK in p.name]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return len(stale)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The checkpoint ``latest`` names (or the newest one if the pointer is missing); None if none."""
    run_dir = Path(run_dir)
    name = _read_pointer(run_dir / LATEST)
    if name and (run_dir / CHECKPOINTS / name).is_dir():
        return run_dir / CHECKPOINTS / name
    names = list_checkpoints(run_dir)
    return run_dir / CHECKPOINTS / names[-1] if names else None


def best_checkpoint(run_dir: Path) -> Path | None:
    name = _read_pointer(Path(run_dir) / BEST)
    path = Path(run_dir) / CHECKPOINTS / name if name else None
    return path if path is not None and path.is_dir() else None


def read_state(ckpt_dir: Path) -> dict[str, Any]:
    """``state.json`` of a checkpoint; a missing or corrupt file is an :class:`InputError`."""
    path = Path(ckpt_dir) / STATE
    if not path.is_file():
        raise InputError("not a training checkpoint (no state.json)", ckpt_dir)
    state = read_json(path, "corrupt checkpoint state")
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise InputError("corrupt checkpoint state: no integer 'step'", path)
    return state


def load_optimizer_state(ckpt_dir: Path) -> dict:
    """The optimizer's state dict, read without unpickling arbitrary objects."""
    path = Path(ckpt_dir) / OPTIMIZER
    if not path.is_file():
        raise InputError("checkpoint has no optimizer state", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle opcode, disallowed global...
        raise InputError(f"corrupt optimizer state: {type(e).__name__}: {str(e).splitlines()[0]}", path) from None


# --- RNG state as JSON -------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states of this process, JSON-serialisable."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    out = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_kind, np_keys.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)],
        "torch": _b64(torch.get_rng_state()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = _b64(torch.cuda.get_rng_state())
    return out


def set_rng_state(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(_unb64(state["torch"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(_unb64(state["cuda"]))


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8)


def _read_pointer(path: Path) -> str:
    """The checkpoint name in ``latest``/``best`` ("" if absent); a name that is not a plain entry
    of ``checkpoints/`` (``../x``, ``/abs``) is an :class:`InputError`, never followed."""
    try:
        name = path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""
    if not is_checkpoint_name(name):
        raise InputError(f"names {name[:80]!r}, which is not a checkpoint in {CHECKPOINTS}/", path)
    return name


def _fsync(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            _fsync(child)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
