"""The local executor skips tasks with completion markers and runs the rest on processes."""

import signal

from gptkit.exec import LocalExecutor, Phase, parse_task_range, read_marker
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
