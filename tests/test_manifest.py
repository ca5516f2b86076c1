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


def _fake_run(tmp_path):
    """A run directory: two stage outputs with manifests, and site/ and generate/ without one."""
    run = tmp_path / "run"
    run.mkdir()
    for stage in ("clean", "pack"):
        (tmp_path / stage).mkdir()
        out, _ = _make_output(tmp_path / stage)
        out.rename(run / stage)
    for folder in ("site", "generate"):
        (run / folder).mkdir()
        (run / folder / "sample.txt").write_text("no manifest here")
    (run / "report.html").write_text("<html></html>")
    return run


def test_verify_checks_every_stage_of_a_run(tmp_path):
    run = _fake_run(tmp_path)
    for args in ([run], sorted(p for p in run.iterdir() if p.is_dir())):  # `verify RUN` and `verify RUN/*/`
        proc = run_gptkit("verify", *args)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        row = {name: next(line for line in lines if f"{run.name}/{name} " in line)
               for name in ("site", "clean", "pack", "generate")}
        assert "ok" in row["clean"] and "ok" in row["pack"]
        assert "skipped: no manifest.json" in row["site"] and "skipped: no manifest.json" in row["generate"]
        if args == [run]:  # a run's folders come in pipeline order; named folders in the order given
            at = [lines.index(row[name]) for name in ("site", "clean", "pack", "generate")]
            assert at == sorted(at)

    shard = run / "clean" / "00000.jsonl.zst"
    shard.write_bytes(shard.read_bytes()[:-1])
    (run / "pack" / "manifest.json").write_text("{not json")
    proc = run_gptkit("verify", run)
    assert proc.returncode == 1
    assert "2 of 2 directories failed" in proc.stderr and "00000.jsonl.zst: size" in proc.stderr
    assert "corrupt manifest" in proc.stdout  # the pack row: a broken manifest fails its folder only


def test_verify_without_any_manifest_is_one_line_error(tmp_path):
    (tmp_path / "empty" / "site").mkdir(parents=True)
    proc = run_gptkit("verify", tmp_path / "empty")
    assert proc.returncode == 2 and "no manifest.json here or in its sub-folders" in proc.stderr
