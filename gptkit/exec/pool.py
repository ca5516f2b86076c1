"""Worker processes that leave Ctrl-C to the parent and die with it.

A terminal's Ctrl-C reaches the whole process group. Pool workers that also receive it die
with tracebacks of their own, at whatever line they were on (even while still starting up).
:class:`WorkerPool` starts its workers with SIGINT blocked: the signal mask is inherited by the
spawned interpreters, so only the parent sees the interrupt, and it stops the pool.

A parent killed outright (SIGKILL, the OOM killer) cannot stop its pool: each worker asks Linux
for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent
pid). Multiprocessing's resource tracker then sees its last writer gone and exits too.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """Make this process end when process ``parent`` does (now, if it already has)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the request was made
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _start_worker(parent: int, initializer: Callable[..., object] | None, initargs: tuple) -> None:
    die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


class WorkerPool(ProcessPoolExecutor):
    """A ``spawn`` process pool whose workers never receive SIGINT and die with this process.

    Workers are started by :meth:`submit` in the calling thread; Linux ties ``PR_SET_PDEATHSIG`` to
    that thread, so submit from the main thread (or a thread that outlives the pool).
    """

    def __init__(self, workers: int, initializer: Callable[..., object] | None = None, initargs: tuple = ()):
        super().__init__(workers, mp_context=mp.get_context("spawn"), initializer=_start_worker,
                         initargs=(os.getpid(), initializer, initargs))  # fmt: skip

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
