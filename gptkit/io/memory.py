"""Process memory housekeeping."""

from __future__ import annotations

import contextlib
import ctypes


def release_free_memory() -> None:
    """Give memory that was freed but kept by the C allocator back to the OS (glibc's
    ``malloc_trim``, which trims every thread's arena); a no-op where that does not exist."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).malloc_trim(0)
