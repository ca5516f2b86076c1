"""Workers die with their parent (issue 14.5): kill -9 of only the main process, and Ctrl-C of pack,
leave no pool worker and no resource tracker behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, shared_path

from gptkit.io.shards import write_documents

PROSE = (
    "The river had risen during the night, and by morning the old bridge was under water. People from the "
    "village came down to look at it and to talk about what they should do. Some of them wanted to wait for "
    "the water to fall, but others thought that they had to act at once.\n"
)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the state on (the name may hold spaces)


def _descendants(root: int) -> set[tuple[int, str]]:
    """(pid, start time) of every living descendant of ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            if (fields := _stat(pid)) is not None:
                found.add((pid, fields[19]))
                todo.append(pid)
    return found


def _alive(procs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """The processes still running (a zombie waiting for a reaper has finished)."""
    return {(pid, start) for pid, start in procs if (f := _stat(pid)) is not None and f[19] == start and f[0] != "Z"}


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gptkit", "-q", *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_workers(proc: subprocess.Popen, n: int) -> set[tuple[int, str]]:
    """The main process's descendants once ``n`` pool workers (plus the resource tracker) run."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        procs = _descendants(proc.pid)
        if len(procs) >= n + 1:
            return procs
        time.sleep(0.05)
    pytest.fail(f"no {n} workers appeared (exit {proc.poll()}): {proc.stderr.read().decode() if proc.poll() is not None else ''}")


def _assert_all_gone(procs: set[tuple[int, str]]) -> None:
    deadline = time.monotonic() + 60  # generous: both cores may be busy
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(procs)
    for pid, _ in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"orphans left running: {sorted(left)}"


def _kill_main(proc: subprocess.Popen) -> set[tuple[int, str]]:
    procs = _wait_for_workers(proc, 2)
    proc.kill()
    proc.wait()
    return procs


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    src = tmp_path_factory.mktemp("english")
    for k in range(6):
        docs = [{"id": f"{k}-{i}", "text": f"Story {i} of part {k}. " + PROSE * 3, "metadata": {}} for i in range(3000)]
        write_documents(src / f"{k:05d}.jsonl.zst", docs)
    return src


def test_sigkill_of_the_clean_main_process_takes_its_workers(english, tmp_path):
    proc = _start("data", "clean", english, "--out", tmp_path / "out", "-w", "2")
    _assert_all_gone(_kill_main(proc))


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    src = tmp_path_factory.mktemp("wiki")
    text = shared_path("corpora/wikitext/wikitext-2.test.tokens").read_text() * 2
    write_documents(src / "00000.jsonl.zst", [{"id": str(i), "text": text[i : i + 2000], "metadata": {}}
                                              for i in range(0, len(text), 2000)])  # fmt: skip
    return src


@pytest.mark.parametrize("how", ["sigkill", "ctrl-c"])
def test_pack_workers_die_with_the_main_process(wiki, tmp_path, how):
    gpt2 = shared_path("tokenizers/gpt2")
    proc = _start("data", "pack", wiki, "--tokenizer", gpt2, "-o", tmp_path / "tokens", "-w", "2", "--shard-tokens", "10000")
    if how == "sigkill":
        procs = _kill_main(proc)
    else:
        procs = _wait_for_workers(proc, 2)
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        assert proc.wait(timeout=120) in (130, 0)
    _assert_all_gone(procs)
