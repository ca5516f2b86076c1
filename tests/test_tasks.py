"""The local executor skips tasks with completion markers and runs the rest on processes."""

import signal

from gptkit.exec import Executor, LocalExecutor, Phase, parse_task_range, read_marker, run_task
from gptkit.exec.pool import WorkerPool


def run_tasks(fn, tasks, ids, out, workers, on_done):
    return LocalExecutor(workers).run(Phase(fn, tasks, ids, out), on_done)


def square(x: int) -> dict:
    return {"value": x * x}


def test_run_tasks_resumes_from_markers(tmp_path):
    seen = []
    results = run_tasks(square, [1, 2, 3], ["t1", "t2", "t3"], tmp_path, workers=2,
                        on_done=lambda tid, r, skipped: seen.append((tid, skipped)))  # fmt: skip
    assert results == {"t1": {"value": 1}, "t2": {"value": 4}, "t3": {"value": 9}}
    assert sorted(seen) == [("t1", False), ("t2", False), ("t3", False)]
    assert read_marker(tmp_path, "t2") == {"value": 4}

    (tmp_path / "completions" / "t3.json").unlink()
    seen.clear()
    run_tasks(square, [1, 2, 3], ["t1", "t2", "t3"], tmp_path, workers=1,
              on_done=lambda tid, r, skipped: seen.append((tid, skipped)))  # fmt: skip
    assert sorted(seen) == [("t1", True), ("t2", True), ("t3", False)]


def test_parse_task_range():
    assert parse_task_range(None, 5) == range(5)
    assert parse_task_range("1:3", 5) == range(1, 3)
    assert parse_task_range(":2", 5) == range(0, 2)


def test_worker_pool_workers_never_receive_ctrl_c():
    """Ctrl-C reaches the whole process group; pool workers are born with SIGINT blocked so only
    the parent handles it (a worker hit while starting up used to print its own traceback)."""
    with WorkerPool(2) as pool:
        masks = [f.result() for f in [pool.submit(signal.pthread_sigmask, signal.SIG_BLOCK, []) for _ in range(4)]]
    assert all(signal.SIGINT in mask for mask in masks)
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the parent still gets it


class InOrderExecutor(Executor):
    """A second executor in a few lines: what issue 20's Ray and Slurm executors add."""

    def execute(self, phase, pending):
        if phase.setup:
            phase.setup(*phase.setup_args)
        for task, tid in reversed(pending):
            yield tid, run_task(phase.fn, task, tid, phase.out_dir)

    def imap(self, fn, items, setup=None, setup_args=(), ahead=2):
        return map(fn, items)


def test_a_run_can_change_executor_midway(tmp_path):
    ids = [f"t{i}" for i in range(6)]
    LocalExecutor(2).run(Phase(square, [1, 2, 3], ids[:3], tmp_path))  # first half, local processes
    seen = []
    results = InOrderExecutor().run(Phase(square, list(range(1, 7)), ids, tmp_path),
                                    on_done=lambda tid, r, skipped: seen.append((tid, skipped)))  # fmt: skip
    assert seen == [("t0", True), ("t1", True), ("t2", True), ("t5", False), ("t4", False), ("t3", False)]
    assert results == {f"t{i}": {"value": (i + 1) ** 2} for i in range(6)}
    reference = tmp_path / "reference"
    LocalExecutor(2).run(Phase(square, list(range(1, 7)), ids, reference))
    markers = sorted(p.name for p in (tmp_path / "completions").iterdir())
    assert all((tmp_path / "completions" / m).read_bytes() == (reference / "completions" / m).read_bytes() for m in markers)
    assert len(markers) == 6
