"""Memory housekeeping: freed heap memory goes back to the OS."""

import threading

from gptkit.io.memory import release_free_memory


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def test_release_free_memory_returns_a_threads_freed_heap():
    kept = []

    def churn() -> None:  # 128 MB in 64 KB blocks (below mmap's threshold: heap memory), 1 in 16 kept
        blocks = [bytearray(64 << 10) for _ in range(2000)]
        kept.extend(blocks[::16])

    thread = threading.Thread(target=churn)
    thread.start()
    thread.join()
    before = rss_mb()
    release_free_memory()
    assert before - rss_mb() > 60, "the freed blocks between the kept ones should leave the process"
    assert len(kept) == 125
