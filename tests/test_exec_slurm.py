"""--executor slurm: the job scripts it writes, and the array entry point run as Slurm would run it.

No Slurm controller runs here: ``sbatch`` and ``squeue`` are small stand-ins on PATH. The fake
``sbatch`` reads the script's ``#SBATCH --array`` line and runs the script once per index with
``SLURM_ARRAY_TASK_ID`` set (what a node does), so the real ``gptkit exec array`` entry point
runs every task; ``squeue`` reports an empty queue.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_gptkit, shared_path
from slurm_nodes import run_array_script, submitted

from gptkit.data.clean import CleanConfig, clean
from gptkit.errors import DryRun
from gptkit.exec import ExecutorConfig, Phase, executor_for
from gptkit.exec.slurm import array_spec, run_array_task
from gptkit.io.shards import iter_documents, write_documents

TEST_PATH = f"{REPO}{os.pathsep}{REPO / 'tests'}"
FAKE_SBATCH = f"""#!{sys.executable}
import sys
from slurm_nodes import fake_sbatch
print(fake_sbatch(sys.argv[1:]))
"""
FAKE_SQUEUE = """#!/bin/sh
[ -n "$FAKE_SLURM_QUEUED" ] && echo 4201
exit 0
"""


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    """sbatch/squeue stand-ins first on PATH; returns the file logging sbatch's argument lists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "squeue").write_text(FAKE_SQUEUE)
    for name in ("sbatch", "squeue"):
        (bin_dir / name).chmod(stat.S_IRWXU)
    log = tmp_path / "submitted.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", TEST_PATH)  # the array tasks import this module's task functions
    return log


def square(x: int) -> dict:
    return {"square": x * x}


def test_array_spec_compresses_runs():
    assert array_spec([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert array_spec([3]) == "3"


def test_scripts_chunk_arrays_below_max_array_size(tmp_path):
    cfg = ExecutorConfig(kind="slurm", partition="cpu", time="01:00:00", mem_per_cpu="2G", max_array_size=1000)
    executor = executor_for(8, cfg)
    scripts = executor.write_scripts("filter", tmp_path, list(range(2500)), attempt=0)
    texts = [p.read_text() for p in scripts]
    assert [t.splitlines()[2] for t in texts] == ["#SBATCH --array=0-999%8"] * 2 + ["#SBATCH --array=0-499%8"]
    assert [t.rsplit("--offset ", 1)[1].strip() for t in texts] == ["0", "1000", "2000"]
    for line in ("#SBATCH --partition=cpu", "#SBATCH --time=01:00:00", "#SBATCH --mem-per-cpu=2G",
                 "#SBATCH --requeue", "#SBATCH --kill-on-invalid-dep=yes", "#SBATCH --cpus-per-task=1",
                 "-m gptkit exec array"):  # fmt: skip
        assert line in texts[0]
    retry = executor.write_scripts("filter", tmp_path, [3, 4, 5, 1207], attempt=1)
    assert [p.read_text().splitlines()[2] for p in retry] == ["#SBATCH --array=3-5%8", "#SBATCH --array=207%8"]


def test_entry_point_runs_the_task_of_its_array_index(tmp_path, fake_slurm, monkeypatch):
    phase = Phase(square, [3, 4, 5], ["t0", "t1", "t2"], tmp_path / "out", name="squares")
    with pytest.raises(DryRun, match="dry-run"):
        executor_for(2, ExecutorConfig(kind="slurm", dry_run=True)).run(phase)
    tasks_file = tmp_path / "out" / "slurm" / "squares" / "tasks-try0.pkl"
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert run_array_task(tasks_file, offset=1) == "t2"
    assert json.loads((tmp_path / "out" / "completions" / "t2.json").read_text()) == {"square": 25}
    assert not (tmp_path / "out" / "completions" / "t0.json").exists()
    done = run_gptkit("exec", "array", tasks_file, env={"SLURM_ARRAY_TASK_ID": "0", "PYTHONPATH": TEST_PATH})
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "completions" / "t0.json").read_text()) == {"square": 9}
    outside = run_gptkit("exec", "array", tasks_file, env={"SLURM_ARRAY_TASK_ID": "", "PYTHONPATH": TEST_PATH})
    assert outside.returncode == 2


def test_lost_task_is_requeued(tmp_path, fake_slurm, monkeypatch):
    monkeypatch.setenv("FAKE_SLURM_LOSE_ONCE", str(tmp_path / "lost"))
    phase = Phase(square, list(range(5)), [f"t{i}" for i in range(5)], tmp_path / "out", name="squares")
    results = executor_for(2, ExecutorConfig(kind="slurm", poll_s=0.01)).run(phase)
    assert results == {f"t{i}": {"square": i * i} for i in range(5)}
    scripts = [args[-1] for args in submitted(fake_slurm)]
    assert [p.rsplit("/", 1)[1] for p in scripts] == ["array-00000-try0.sh", "array-00000-try1.sh"]
    assert "#SBATCH --array=0%2" in Path(scripts[1]).read_text()  # only the lost task again


def total(out: str) -> dict:
    """A phase after the squares: reads their markers (as clean's index reads the filter outputs)."""
    return {"total": sum(json.loads(p.read_text())["square"] for p in (Path(out) / "completions").glob("t*.json"))}


def test_requeue_rechains_the_later_phases(tmp_path, fake_slurm, monkeypatch):
    """A task lost in phase 1 fails its array, so Slurm drops phase 2 (its afterok can never hold);
    the client submits the lost task again and phase 2 after it, on the new job id."""
    monkeypatch.setenv("FAKE_SLURM_LOSE_ONCE", str(tmp_path / "lost"))
    out = tmp_path / "out"
    squares = Phase(square, list(range(4)), [f"t{i}" for i in range(4)], out, name="squares")
    adding = Phase(total, [str(out)], ["total"], out, name="total")
    results = executor_for(2, ExecutorConfig(kind="slurm", poll_s=0.01)).run_stage([squares, adding])
    assert results[1] == {"total": {"total": 0 + 1 + 4 + 9}}
    calls = [(c[-1].rsplit("/", 2)[1:], c[:-1]) for c in submitted(fake_slurm)]
    assert calls == [
        (["squares", "array-00000-try0.sh"], ["--parsable"]),
        (["total", "array-00000-try0.sh"], ["--parsable", "--dependency=afterok:4201"]),  # dropped: 4201 failed
        (["squares", "array-00000-try1.sh"], ["--parsable"]),
        (["total", "array-00000-try1.sh"], ["--parsable", "--dependency=afterok:4203"]),
    ]


def test_a_queued_chain_is_watched_not_submitted_again(tmp_path, fake_slurm, monkeypatch):
    """A client started again while its killed predecessor's chain is queued watches that chain."""
    monkeypatch.setenv("FAKE_SLURM_DEFER", "1")
    phases = [Phase(square, [1, 2], ["t0", "t1"], tmp_path, name="squares"),
              Phase(total, [str(tmp_path)], ["total"], tmp_path, name="total")]  # fmt: skip
    executor_for(2, ExecutorConfig(kind="slurm")).start(phases)
    chain = json.loads((tmp_path / "slurm" / "chain.json").read_text())
    assert chain == {"squares": ["4201"], "total": ["4202"]}
    monkeypatch.setenv("FAKE_SLURM_QUEUED", "1")  # squeue still lists the chain
    executor_for(2, ExecutorConfig(kind="slurm")).start(phases)
    assert len(submitted(fake_slurm)) == 2
    monkeypatch.delenv("FAKE_SLURM_QUEUED")  # the chain has ended: the unmarked tasks go again
    executor_for(2, ExecutorConfig(kind="slurm")).start(phases)
    assert json.loads((tmp_path / "slurm" / "chain.json").read_text()) == {"squares": ["4203"], "total": ["4204"]}


def comparable(out):
    """Shards, stats and manifest of a clean output, less the fields that record when and how it was
    invoked (the command line names the executor and the folder)."""
    files = {p.name: p.read_bytes() for p in sorted(out.glob("*.jsonl.zst"))}
    files["config.toml"] = (out / "config.toml").read_bytes()
    stats = json.loads((out / "stats.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    for record in (stats, manifest):
        for key in ("timings", "created", "command"):
            record.pop(key, None)
    return files, stats, manifest


@functools.cache
def _slurm_up() -> bool:
    """Whether a controller answers. Asked when the real-sbatch tests run (a string condition), not
    on import: the array tasks import this module, and sinfo waits ~20 s for a controller that is
    not there."""
    if shutil.which("sinfo") is None:
        return False
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "idle" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif("not _slurm_up()", reason="no Slurm controller answers (scripts/slurm-one-node.sh starts one)")
def test_real_sbatch_round_trip_equals_local(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-ccnet-cc_en_head-0091.jsonl.gz")))
    inp = tmp_path / "in"
    for k in range(3):
        write_documents(inp / f"{k:05d}.jsonl.zst", docs[k::3])
    clean([inp], tmp_path / "local", CleanConfig(), workers=2)
    summary = clean([inp], tmp_path / "slurm", CleanConfig(), workers=2,
                    executor=ExecutorConfig(kind="slurm", poll_s=1, time="00:10:00"))  # fmt: skip
    assert summary.complete
    logs = list((tmp_path / "slurm" / "slurm" / "filter" / "logs").glob("*.out"))
    assert len(logs) == 3  # one per array task: the work ran in Slurm jobs
    assert comparable(tmp_path / "slurm") == comparable(tmp_path / "local")


@pytest.mark.slow
@pytest.mark.skipif("not _slurm_up()", reason="no Slurm controller answers (scripts/slurm-one-node.sh starts one)")
def test_real_chain_finishes_after_the_client_is_killed(tmp_path):
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-ccnet-cc_en_head-0091.jsonl.gz")))
    inp = tmp_path / "in"
    for k in range(3):
        write_documents(inp / f"{k:05d}.jsonl.zst", docs[k::3])
    clean([inp], tmp_path / "local", CleanConfig(), workers=2)
    client = subprocess.Popen([sys.executable, "-m", "gptkit", "-q", "data", "clean", str(inp), "--out",
                               str(tmp_path / "cluster"), "--executor", "slurm", "-w", "2"],
                              env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    deadline = time.time() + 300
    while not (tmp_path / "cluster" / "slurm" / "chain.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    client.kill()  # every phase is submitted: the chain goes on without it
    client.wait()
    while not (tmp_path / "cluster" / "manifest.json").exists() and time.time() < deadline:
        time.sleep(1)
    assert comparable(tmp_path / "cluster") == comparable(tmp_path / "local")


def test_dry_run_prints_every_phase_script_and_the_chained_sbatch_commands(tmp_path, fake_slurm):
    inp = tmp_path / "in"
    for k in range(3):
        write_documents(inp / f"{k:05d}.jsonl.zst", [{"id": f"d{k}", "text": "Some words here. " * 30}])
    recipe = tmp_path / "cluster.toml"
    recipe.write_text('[executor]\nkind = "slurm"\npartition = "gpu"\ntime = "00:30:00"\n')
    dry = run_gptkit("data", "clean", inp, "--out", tmp_path / "out", "-r", recipe, "--partition", "cpu",
                     "--dry-run", "-w", "2", "--set", "executor.mem_per_cpu=3G")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --partition=cpu", "#SBATCH --time=00:30:00",
                 "#SBATCH --mem-per-cpu=3G", "exec array"):  # fmt: skip
        assert line in dry.stdout
    commands = dry.stdout.split("submitted in this order (bash):")[1].strip().splitlines()
    assert [c.split("=", 1)[0] for c in commands] == ["filter_0", "dedup_index_0", "write_0", "finish_0"]
    assert "--dependency=afterok" not in commands[0]
    assert '"--dependency=afterok:$filter_0"' in commands[1] and '"--dependency=afterok:$write_0"' in commands[3]
    assert dry.stdout.count("#!/bin/bash") == 4 and "4 job script(s) of 4 phase(s)" in dry.stderr
    assert not fake_slurm.exists()
    bad = run_gptkit("data", "clean", inp, "--out", tmp_path / "out", "--executor", "dask")
    assert bad.returncode == 2 and "dask" in bad.stderr


def test_chain_is_submitted_at_once_and_finishes_without_the_client(tmp_path, fake_slurm):
    """Every phase is submitted before any runs, each after the previous one (afterok); the client
    is killed while it waits, and the nodes still produce the output of a local run, manifest included."""
    inp = tmp_path / "in"
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    for k in range(3):
        write_documents(inp / f"{k:05d}.jsonl.zst", docs[k::3][:60] + docs[:5])  # duplicates across shards
    local = run_gptkit("-q", "data", "clean", inp, "--out", tmp_path / "local", "-w", "2")
    assert local.returncode == 0, local.stderr

    args = ["data", "clean", str(inp), "--out", str(tmp_path / "cluster"), "--executor", "slurm", "-w", "2",
            "--set", "executor.poll_s=0.2"]  # fmt: skip
    env = {**os.environ, "FAKE_SLURM_DEFER": "1", "FAKE_SLURM_QUEUED": "1"}
    client = subprocess.Popen([sys.executable, "-m", "gptkit", *args], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while len(submitted(fake_slurm)) < 4 and client.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert client.poll() is None, client.stderr.read().decode()
    client.kill()
    client.wait()

    calls = submitted(fake_slurm)
    assert [c[-1].split("/slurm/")[-1] for c in calls] == [
        "filter/array-00000-try0.sh", "dedup-index/array-00000-try0.sh", "write/array-00000-try0.sh",
        "finish/array-00000-try0.sh"]  # fmt: skip
    assert calls[0] == ["--parsable", calls[0][-1]]
    for k in (1, 2, 3):  # job ids: 4201, 4202, … in submission order
        assert calls[k] == ["--parsable", f"--dependency=afterok:{4200 + k}", calls[k][-1]]
    assert not (tmp_path / "cluster" / "manifest.json").exists()
    for call in calls:  # the cluster runs the chain in dependency order
        run_array_script(call[-1])
    assert comparable(tmp_path / "cluster") == comparable(tmp_path / "local")


def test_overlap_through_slurm_arrays_equals_local(tmp_path, fake_slurm):
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    for k in range(3):
        write_documents(tmp_path / "corpus" / f"{k:05d}.jsonl.zst", docs[k::3][:40])
    eval_file = tmp_path / "eval.txt"
    eval_file.write_text("\n".join(d["text"][:300] for d in docs[::7][:20]) + "\nnothing of this is in the corpus at all\n")
    reports = {}
    for kind in ("local", "slurm"):
        reports[kind] = tmp_path / f"{kind}.json"
        done = run_gptkit("data", "overlap", tmp_path / "corpus", "--eval", eval_file, "--report", reports[kind],
                          "--executor", kind, "-w", "2", "--set", "executor.poll_s=0.05", env={"PYTHONPATH": TEST_PATH})
        assert done.returncode == 0, done.stderr
    [call] = submitted(fake_slurm)  # one array of the 3 files' tasks, beside the report
    assert call[-1] == str(tmp_path / "slurm.json.tasks" / "slurm" / "overlap" / "array-00000-try0.sh")
    local, slurm = (json.loads(reports[k].read_text()) for k in ("local", "slurm"))
    assert slurm == local and 0 < local["ngram_overlap_pct"] < 100 and local["corpus_documents"] == 120
    assert not (tmp_path / "slurm.json.tasks").exists()  # the task results go once the report is written
    no_report = run_gptkit("data", "overlap", tmp_path / "corpus", "--eval", eval_file, "--executor", "slurm")
    assert no_report.returncode == 2 and "--report" in no_report.stderr


def test_pack_through_slurm_arrays_is_byte_identical(tmp_path, fake_slurm):
    """One encode task per input file on the nodes, then the same ordered writer: the same shards,
    indexes and shard markers as a local pack; the encoded parts are gone afterwards."""
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    for k in range(3):
        write_documents(tmp_path / "docs" / f"{k:05d}.jsonl.zst", docs[k::3][:50])
    for kind in ("local", "slurm"):
        done = run_gptkit("-q", "data", "pack", tmp_path / "docs", "--tokenizer", shared_path("tokenizers/gpt2"),
                          "--out", tmp_path / kind, "--executor", kind, "-w", "2", "--shard-tokens", "20000",
                          "--val-docs", "7", "--set", "executor.poll_s=0.05", env={"PYTHONPATH": TEST_PATH})  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert len(submitted(fake_slurm)) == 1
    local = {p.relative_to(tmp_path / "local"): p.read_bytes() for p in (tmp_path / "local").rglob("*")
             if p.is_file() and p.name not in ("manifest.json", "config.toml")}  # config.toml names --out
    slurm = {p.relative_to(tmp_path / "slurm"): p.read_bytes() for p in (tmp_path / "slurm").rglob("*")
             if p.is_file() and p.name not in ("manifest.json", "config.toml") and p.relative_to(tmp_path / "slurm").parts[0] != "slurm"}  # fmt: skip
    assert len([p for p in local if p.suffix == ".bin"]) > 3 and slurm == local
    manifests = [json.loads((tmp_path / kind / "manifest.json").read_text()) for kind in ("local", "slurm")]
    assert manifests[0]["outputs"] == manifests[1]["outputs"]
