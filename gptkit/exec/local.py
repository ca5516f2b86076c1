"""The local executor: tasks on worker processes of this machine (:class:`WorkerPool`)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Any

from gptkit.exec.base import Executor, Phase, run_task
from gptkit.exec.pool import WorkerPool


class LocalExecutor(Executor):
    """``workers`` processes; with one worker (or one task) everything runs in this process,
    which is easier to debug and profile."""

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)

    def execute(self, phase: Phase, pending: list[tuple[Any, str]]) -> Iterator[tuple[str, dict]]:
        if self.workers == 1 or len(pending) <= 1:
            if phase.setup is not None:
                phase.setup(*phase.setup_args)
            for task, tid in pending:
                yield tid, run_task(phase.fn, task, tid, phase.out_dir)
            return
        with WorkerPool(self.workers, phase.setup, phase.setup_args) as pool:
            queue = deque(pending)
            running = {}
            while queue or running:
                while queue and len(running) < self.workers:
                    task, tid = queue.popleft()
                    running[pool.submit(run_task, phase.fn, task, tid, phase.out_dir)] = tid
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield running.pop(future), future.result()

    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], setup: Callable[..., Any] | None = None,
        setup_args: tuple = (), ahead: int = 2,
    ) -> Iterator[Any]:  # fmt: skip
        if self.workers == 1:
            if setup is not None:
                setup(*setup_args)
            yield from map(fn, items)
            return
        with WorkerPool(self.workers, setup, setup_args) as pool:
            pending: deque = deque()
            try:
                for item in items:
                    pending.append(pool.submit(fn, item))
                    if len(pending) >= ahead * self.workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            except BaseException:  # interrupted or failed: do not start what is still queued
                pool.shutdown(wait=False, cancel_futures=True)
                raise
