"""Manifests record hashes that `gptkit verify` checks."""

import json

from conftest import run_gptkit

from gptkit.io.manifest import Manifest, file_record, read_manifest, verify
from gptkit.io.shards import write_documents


def _make_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    docs = [{"id": str(i), "text": f"document {i}", "metadata": {}} for i in range(50)]
    write_documents(out / "00000.jsonl.zst", docs)
    inp = tmp_path / "in.txt"
    inp.write_text("input")
    m = Manifest(
        stage="test", config={"a": 1}, inputs=[file_record(inp)],
        outputs=[file_record(out / "00000.jsonl.zst", out, documents=50)], counts={"documents": 50},
    )  # fmt: skip
    m.write(out)
    return out, inp


def test_manifest_contents(tmp_path):
    out, _ = _make_output(tmp_path)
    data = read_manifest(out)
    assert data["stage"] == "test"
    assert data["outputs"][0]["path"] == "00000.jsonl.zst"
    assert data["outputs"][0]["hash"].startswith("xxh3_128:")
    assert data["inputs"][0]["bytes"] == 5
    assert "python" in data["versions"] and "zstandard" in data["versions"]
    assert data["gptkit_version"]


def test_verify_ok_then_corrupted(tmp_path):
    out, _ = _make_output(tmp_path)
    assert verify(out) == []
    proc = run_gptkit("verify", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout

    shard = out / "00000.jsonl.zst"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    shard.write_bytes(bytes(data))
    problems = verify(out)
    assert len(problems) == 1 and "hash" in problems[0].reason
    proc = run_gptkit("verify", str(out))
    assert proc.returncode == 1
    assert "00000.jsonl.zst" in proc.stderr and "FAIL" in proc.stderr


def test_verify_reports_missing_file(tmp_path):
    out, _ = _make_output(tmp_path)
    (out / "00000.jsonl.zst").unlink()
    assert [p.reason for p in verify(out)] == ["missing"]


def test_manifest_is_json(tmp_path):
    out, _ = _make_output(tmp_path)
    json.loads((out / "manifest.json").read_text())
