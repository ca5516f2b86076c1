"""Process-wide runtime choices every stage makes the same way: random seeds and the device.

``gptkit train``, ``gptkit eval``, ``generate`` and the other model commands call these, so a
seed or a ``--device`` value means the same thing everywhere.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from gptkit.errors import UsageError


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all of which checkpoints save)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str | None, option: str = "--device") -> torch.device:
    """``auto``/None → CUDA if available, else CPU; otherwise any torch device name (``cuda:1``).

    An unknown name or CUDA on a machine without it is a :class:`UsageError` naming ``option``.
    """
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"{option}: unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"{option}={name} but no CUDA device is available on this machine (use cpu or auto)")
    return device
