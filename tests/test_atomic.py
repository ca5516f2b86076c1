"""A killed writer never leaves a file under its final name."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_finished_files_honour_the_umask(tmp_path, umask):
    """safetensors creates its file 0600; every finished file gets the mode ``open()`` would give."""
    script = (
        "import sys, os\n"
        "from gptkit.io.atomic import atomic_path\n"
        "from gptkit.model.gpt import GPT, preset\n"
        "from gptkit.model.store import save_model\n"
        "save_model(sys.argv[1], GPT(preset('nano', vocab_size=64)))\n"
        "with atomic_path(os.path.join(sys.argv[1], 'private.bin')) as tmp:\n"
        "    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600))\n"
    )
    out = tmp_path / "model"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env,
                   preexec_fn=lambda: os.umask(umask))  # fmt: skip
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == dict.fromkeys(["model.safetensors", "model_config.json", "private.bin"], 0o666 & ~umask)
