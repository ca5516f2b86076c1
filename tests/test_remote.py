"""Remote inputs and outputs (fsspec) against a real local S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest
from conftest import REPO, run_gptkit, shared_path
from slurm_nodes import run_array_script, submitted
from test_exec_slurm import TEST_PATH, fake_slurm  # noqa: F401  (a fixture)

from gptkit.errors import InputError
from gptkit.io.remote import RemoteOutput, fetch_inputs
from gptkit.io.shards import iter_documents, write_documents

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, tmp_path, monkeypatch):
    """An empty bucket 'corpus'; the environment that points s3fs (here and in subprocesses) at it."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": s3_endpoint, "GPTKIT_CACHE": str(tmp_path / "cache")}  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})  # read from the env at import
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    bucket = f"corpus-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    fs.mkdir(bucket)
    return fs, bucket, env


def _upload_corpus(fs, bucket, tmp_path, parts=3):
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    local = tmp_path / "in"
    for k in range(parts):
        write_documents(local / f"{k:05d}.jsonl.zst", docs[k::parts][:100])
        fs.put_file(str(local / f"{k:05d}.jsonl.zst"), f"{bucket}/in/{k:05d}.jsonl.zst")
    return local


def test_inputs_download_and_outputs_publish_markers_last(s3, tmp_path, monkeypatch):
    fs, bucket, _ = s3
    local_in = _upload_corpus(fs, bucket, tmp_path)
    [folder] = fetch_inputs([f"s3://{bucket}/in/"])
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.jsonl.zst")) == sorted(p.name for p in local_in.iterdir())
    [one] = fetch_inputs([f"s3://{bucket}/in/00001.jsonl.zst"])
    assert Path(one).read_bytes() == (local_in / "00001.jsonl.zst").read_bytes() and folder != one
    fs.put_file(str(local_in / "00002.jsonl.zst"), f"{bucket}/in/00001.jsonl.zst")  # a new version
    assert fetch_inputs([f"s3://{bucket}/in/00001.jsonl.zst"]) == [one]
    assert Path(one).read_bytes() == (local_in / "00002.jsonl.zst").read_bytes()
    with pytest.raises(InputError, match="matches no remote file"):
        fetch_inputs([f"s3://{bucket}/in/*.parquet"])

    out = RemoteOutput(f"s3://{bucket}/out")
    (out.local / "completions").mkdir(parents=True)
    for name in ("completions/t0.json", "manifest.json", "00000.jsonl.zst"):
        (out.local / name).write_text(name)
    order = []
    put = out.fs.put_file
    monkeypatch.setattr(out.fs, "put_file", lambda src, dst: (order.append(dst.rsplit("/out/", 1)[1]), put(src, dst)))
    assert out.publish() == 3 and order == ["00000.jsonl.zst", "completions/t0.json", "manifest.json"]
    assert out.publish() == 0  # nothing changed
    fresh = RemoteOutput(f"s3://{bucket}/out")
    fresh.local = tmp_path / "elsewhere"
    fresh.pull()
    assert (fresh.local / "completions" / "t0.json").read_text() == "completions/t0.json"
    with pytest.raises(Exception, match="read-only"):
        RemoteOutput("hf://datasets/x/y")


@pytest.mark.slow
def test_clean_from_s3_to_s3_killed_then_resumed_matches_a_local_run(s3, tmp_path):
    fs, bucket, env = s3
    local_in = _upload_corpus(fs, bucket, tmp_path)
    reference = run_gptkit("-q", "data", "clean", local_in, "--out", tmp_path / "ref", "-w", "1")
    assert reference.returncode == 0, reference.stderr

    args = ["data", "clean", f"s3://{bucket}/in/", "--out", f"s3://{bucket}/clean", "-w", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "gptkit", "-q", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    marker = None
    deadline = time.time() + 300
    while marker is None and proc.poll() is None and time.time() < deadline:
        marker = next((tmp_path / "cache").rglob("filter-00001.json"), None)
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not fs.exists(f"{bucket}/clean/manifest.json")

    partial = run_gptkit("-q", *args, "--task-range", "0:1", env=env)  # resumes the killed run's work
    assert partial.returncode == 0, partial.stderr
    assert fs.exists(f"{bucket}/clean/completions/filter-00001.json")
    elsewhere = run_gptkit("-q", *args, env={**env, "GPTKIT_CACHE": str(tmp_path / "other-machine")})
    assert elsewhere.returncode == 0, elsewhere.stderr
    names = sorted(p.name for p in (tmp_path / "ref").glob("*.jsonl.zst")) + ["stats.json", "config.toml"]
    for name in names:
        assert fs.cat_file(f"{bucket}/clean/{name}") == (tmp_path / "ref" / name).read_bytes(), name
    assert fs.exists(f"{bucket}/clean/manifest.json")


@pytest.mark.slow
def test_extract_and_pack_with_s3_paths_match_local_runs(s3, tmp_path):
    fs, bucket, env = s3
    warc = shared_path("web/commoncrawl-whirlwind/whirlwind.warc.gz")
    fs.put_file(str(warc), f"{bucket}/crawl/whirlwind.warc.gz")
    for where, src, dst in (("local", warc, tmp_path / "docs"), ("s3", f"s3://{bucket}/crawl/", f"s3://{bucket}/docs")):
        done = run_gptkit("-q", "data", "extract", src, "--out", dst, "-w", "1", env=env)
        assert done.returncode == 0, (where, done.stderr)
    assert fs.cat_file(f"{bucket}/docs/00000.jsonl.zst") == (tmp_path / "docs" / "00000.jsonl.zst").read_bytes()

    tok = shared_path("tokenizers/gpt2")
    local = run_gptkit("-q", "data", "pack", tmp_path / "docs", "--tokenizer", tok, "--out", tmp_path / "tokens",
                       "-w", "1", "--val-docs", "1")  # fmt: skip
    assert local.returncode == 0, local.stderr
    recipe = tmp_path / "pack.toml"  # URLs in a recipe and in --set stay URLs (not Path('s3:/...'))
    recipe.write_text(f'[pack]\ninputs = ["s3://{bucket}/docs/"]\nval_docs = 1\n')
    remote = run_gptkit("-q", "data", "pack", "-r", recipe, "--set", f"pack.out=s3://{bucket}/tokens",
                        "--tokenizer", tok, "-w", "1", env=env)  # fmt: skip
    assert remote.returncode == 0, remote.stderr
    assert not Path("s3:").exists()
    for shard in ("train_00000.bin", "train_00000.idx.npy", "val_ids.txt"):
        assert fs.cat_file(f"{bucket}/tokens/{shard}") == (tmp_path / "tokens" / shard).read_bytes()
    assert fs.exists(f"{bucket}/tokens/manifest.json")


@pytest.mark.slow
@pytest.mark.usefixtures("fake_slurm")
def test_clean_to_s3_on_ray_and_on_slurm_nodes_matches_local(s3, tmp_path):
    """Remote --out with a cluster executor: the tasks pull and publish themselves. On Slurm the
    client is killed after submitting and its working copy emptied but for the job scripts: the
    nodes' tasks alone fill the bucket, manifest last. Ray starts its own cluster without a
    warning on stderr."""
    fs, bucket, env = s3
    local_in = _upload_corpus(fs, bucket, tmp_path)
    reference = run_gptkit("-q", "data", "clean", local_in, "--out", tmp_path / "ref", "-w", "2")
    assert reference.returncode == 0, reference.stderr
    names = sorted(p.name for p in (tmp_path / "ref").glob("*.jsonl.zst")) + ["stats.json", "config.toml"]

    ray_run = run_gptkit("data", "clean", f"s3://{bucket}/in/", "--out", f"s3://{bucket}/ray", "--executor", "ray",
                         "-w", "2", env=env)  # fmt: skip
    assert ray_run.returncode == 0, ray_run.stderr
    assert "WARNING" not in ray_run.stderr and "Token" not in ray_run.stderr, ray_run.stderr

    args = ["data", "clean", f"s3://{bucket}/in/", "--out", f"s3://{bucket}/slurm", "--executor", "slurm", "-w", "2",
            "--set", "executor.poll_s=0.2"]  # fmt: skip
    slurm_env = {**os.environ, **env, "PYTHONPATH": TEST_PATH, "FAKE_SLURM_DEFER": "1", "FAKE_SLURM_QUEUED": "1"}
    client = subprocess.Popen([sys.executable, "-m", "gptkit", *args], env=slurm_env, stderr=subprocess.PIPE)
    log, deadline = Path(os.environ["FAKE_SLURM_LOG"]), time.time() + 300
    while len(submitted(log)) < 4 and client.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert client.poll() is None, client.stderr.read().decode()
    client.kill()
    client.wait()
    [copy] = (tmp_path / "cache").rglob("out/slurm")  # the job scripts and task lists: on a shared disk
    for item in copy.parent.iterdir():
        if item != copy:  # the rest of the working copy: each task pulls what it needs from the bucket
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    for call in submitted(log):
        run_array_script(call[-1])

    for kind in ("ray", "slurm"):
        for name in names:
            assert fs.cat_file(f"{bucket}/{kind}/{name}") == (tmp_path / "ref" / name).read_bytes(), (kind, name)
        assert not fs.find(f"{bucket}/{kind}/.work/filtered")  # scratch the tasks published goes with the stage's
        manifest = json.loads(fs.cat_file(f"{bucket}/{kind}/manifest.json"))
        assert manifest["counts"] == json.loads((tmp_path / "ref" / "manifest.json").read_text())["counts"]
