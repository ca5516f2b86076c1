"""The Ray executor: tasks as Ray tasks on a cluster (``--ray-address``) or on a local one.

Each task is ``run_task`` in a Ray worker process, so the completion marker is written where the
task ran, exactly as with local processes. A worker that dies mid-task (node lost, OOM-killed)
makes Ray run the task again, up to ``retries`` times; the task's outputs are written atomically
before its marker, so the rerun replaces whatever the dead worker left. An exception raised by
the task itself is not retried: it would fail again.

Ray workers are reused across tasks: a phase's ``setup`` runs once per worker process (tracked
by a key unique to the phase), and its arguments travel once, through Ray's object store.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gptkit.errors import UsageError
from gptkit.exec.base import Executor, Phase, run_task
from gptkit.exec.config import ExecutorConfig, memory_bytes
from gptkit.io.remote import published_url

_setup_key: str | None = None  # in a Ray worker: the phase whose setup this process last ran


def _call(setup: Callable[..., Any] | None, setup_args: tuple, key: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Body of every Ray task: the phase's per-process setup (once), then ``fn(*args)``."""
    global _setup_key
    if setup is not None and _setup_key != key:
        setup(*setup_args)
        _setup_key = key
    return fn(*args)


def _ray(local_cluster: bool = False):
    """Import Ray. For a cluster started for this run, Ray's default of token authentication is
    chosen explicitly (``RAY_AUTH_MODE``, read when Ray is imported): left unset, Ray warns on
    stderr that it chose it. A user's ``RAY_AUTH_MODE`` wins."""
    if local_cluster and "ray" not in sys.modules:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'gptkit[ray]'") from None
    return ray


class RayExecutor(Executor):
    """At most ``workers`` tasks in flight for ordered streams; phases are handed to Ray whole
    and its scheduler runs as many as the cluster's CPUs (``cpus_per_task`` each) allow."""

    def __init__(self, workers: int = 1, config: ExecutorConfig | None = None):
        self.workers = max(1, workers)
        self.config = config or ExecutorConfig(kind="ray")

    def _remote(self):
        """Connect (or start a local cluster of ``workers`` CPUs) once per process; the task function."""
        ray = _ray(local_cluster=not self.config.ray_address)
        if not ray.is_initialized():
            if self.config.ray_address:
                try:
                    ray.init(address=self.config.ray_address, logging_level=logging.WARNING)
                except (ConnectionError, ValueError) as e:
                    raise UsageError(f"--ray-address {self.config.ray_address}: {e}") from None
            else:
                ray.init(num_cpus=self.workers * self.config.cpus_per_task, include_dashboard=False,
                         logging_level=logging.WARNING)  # fmt: skip
        options: dict[str, Any] = {"num_cpus": self.config.cpus_per_task, "max_retries": self.config.retries}
        if self.config.memory_per_task:
            options["memory"] = memory_bytes(self.config.memory_per_task)
        return ray, ray.remote(_call).options(**options)

    def execute(self, phase: Phase, pending: list[tuple[Any, str]]) -> Iterator[tuple[str, dict]]:
        if not pending:
            return
        ray, remote = self._remote()
        args, key, out, url = ray.put(phase.setup_args), uuid.uuid4().hex, str(phase.out_dir), published_url(phase.out_dir)
        running = {remote.remote(phase.setup, args, key, run_task, phase.fn, task, tid, out, url): tid for task, tid in pending}
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                more, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                for ref in dict.fromkeys(ready + more):
                    yield running.pop(ref), _get(ray, ref)
        finally:
            for ref in running:
                ray.cancel(ref)

    def imap(
        self, fn: Callable[[Any], Any], items: Iterable[Any], setup: Callable[..., Any] | None = None,
        setup_args: tuple = (), ahead: int = 2,
    ) -> Iterator[Any]:  # fmt: skip
        ray, remote = self._remote()
        args, key = ray.put(setup_args), uuid.uuid4().hex
        pending: deque = deque()
        try:
            for item in items:
                pending.append(remote.remote(setup, args, key, fn, item))
                if len(pending) >= ahead * self.workers:
                    yield _get(ray, pending.popleft())
            while pending:
                yield _get(ray, pending.popleft())
        finally:
            for ref in pending:
                ray.cancel(ref)


def _get(ray: Any, ref: Any) -> Any:
    """The task's result; an exception the task raised is re-raised as itself (a user error stays one)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as e:
        raise e.cause from None
