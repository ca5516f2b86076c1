"""Process-wide runtime choices every stage makes the same way: random seeds, the device and
the C allocator's behaviour for tensor-sized blocks.

``gptkit train``, ``gptkit eval``, ``generate`` and the other model commands call these, so a
seed or a ``--device`` value means the same thing everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import random
import sys

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


def keep_freed_memory() -> bool:
    """Have glibc's ``malloc`` keep freed tensor-sized blocks for reuse instead of unmapping them.

    A CPU training step allocates and frees the same large tensors every time (logits chunks,
    activations, the token embedding's dense gradient). By default glibc serves large blocks with
    ``mmap``, unmaps them on ``free`` and gives the top of its heap back to the system, so every
    step faults in hundreds of megabytes of zeroed pages again: ~120k page faults and ~15% of the
    CPU time of a 4 × 256 model's step with a 40k vocabulary, ~20% of a fine-tuning step whose
    cost is mostly the 50k-row embedding (docs/benchmarks.md). With ``mmap`` off and no trimming
    the heap keeps the pages and the next step reuses them: after a few steps the process stops
    growing and stops faulting (measured over hundreds of steps), at about its peak usage, which
    it keeps until it exits. The same as ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=…`` in the
    environment, set from inside. Returns whether it applied (glibc only).
    """
    if not sys.platform.startswith("linux") or (name := ctypes.util.find_library("c")) is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "gnu_get_libc_version"):  # another C library: its own allocator
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
