"""A killed writer never leaves a file under its final name."""

import os
import signal
import subprocess
import sys
import textwrap

from gptkit.io.atomic import atomic_path, atomic_write_json, is_temp, remove_stale_temps
from gptkit.io.shards import ShardWriter


def test_sigkilled_writer_leaves_no_final_file(tmp_path):
    final = tmp_path / "00000.jsonl.zst"
    script = textwrap.dedent(f"""
        import os, signal
        from gptkit.io.shards import ShardWriter
        with ShardWriter({str(final)!r}) as w:
            for i in range(1000):
                w.write({{"id": str(i), "text": "x" * 100, "metadata": {{}}}})
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists()
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(is_temp(p) for p in leftovers)
    assert remove_stale_temps(tmp_path) == len(leftovers)
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_block_keeps_old_file(tmp_path):
    final = tmp_path / "out.json"
    atomic_write_json(final, {"v": 1})
    try:
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert final.read_text().strip().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_shard_writer_success(tmp_path):
    with ShardWriter(tmp_path / "a.jsonl.zst") as w:
        w.write({"id": "1", "text": "hi", "metadata": {}})
    assert w.documents == 1
    assert (tmp_path / "a.jsonl.zst").is_file()
