"""Worker processes that leave Ctrl-C to the parent.

A terminal's Ctrl-C reaches the whole process group. Pool workers that also receive it die
with tracebacks of their own, at whatever line they were on (even while still starting up).
:class:`WorkerPool` starts its workers with SIGINT blocked: the signal mask is inherited by the
spawned interpreters, so only the parent sees the interrupt, and it stops the pool.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any


class WorkerPool(ProcessPoolExecutor):
    """A ``spawn`` process pool whose workers never receive SIGINT."""

    def __init__(self, workers: int, initializer: Callable[..., object] | None = None, initargs: tuple = ()):
        super().__init__(workers, mp_context=mp.get_context("spawn"), initializer=initializer, initargs=initargs)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Submit ``fn``; a worker process started for it inherits a blocked SIGINT. A Ctrl-C in
        this short window is held and delivered to the parent right after, never lost."""
        if threading.current_thread() is not threading.main_thread():
            return super().submit(fn, *args, **kwargs)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
