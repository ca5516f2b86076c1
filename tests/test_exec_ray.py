"""--executor ray on a real local Ray cluster (2 CPUs), and the done-when of the executors: the same
clean on local processes, on Ray and through Slurm's array entry point gives identical outputs."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest
from conftest import shared_path
from test_exec_slurm import comparable, fake_slurm  # noqa: F401  (a fixture)

from gptkit.data.clean import CleanConfig, clean, overlap_report
from gptkit.data.clean import pipeline as clean_pipeline
from gptkit.data.extract import ExtractConfig, extract
from gptkit.exec import ExecutorConfig, Phase, executor_for
from gptkit.io.shards import iter_documents, write_documents
from gptkit.pack.config import PackConfig
from gptkit.pack.pack import pack

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starting Ray takes 10-30 s on a busy machine

RAY = ExecutorConfig(kind="ray")


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    """One small local cluster for the module (the executor joins a cluster this process started)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    ray.init(num_cpus=2, object_store_memory=100 << 20, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _corpus(tmp_path):
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    docs += [{**d, "id": d["id"] + "-copy"} for d in docs[::40]]  # exact duplicates across shards
    inp = tmp_path / "in"
    for k in range(3):
        write_documents(inp / f"{k:05d}.jsonl.zst", docs[k::3][:120])
    return inp


def cube(x: int) -> dict:
    return {"cube": x**3}


def divide(pair: tuple[int, int]) -> dict:
    return {"quotient": pair[0] / pair[1]}


def test_phase_and_ordered_stream_on_ray(tmp_path):
    phase = Phase(cube, list(range(6)), [f"c{i}" for i in range(6)], tmp_path)
    seen = []
    results = executor_for(2, RAY).run(phase, on_done=lambda tid, r, skipped: seen.append(tid))
    assert results == {f"c{i}": {"cube": i**3} for i in range(6)} and sorted(seen) == sorted(results)
    assert json.loads((tmp_path / "completions" / "c5.json").read_text()) == {"cube": 125}
    assert list(executor_for(2, RAY).imap(abs, range(-20, 0), ahead=1)) == list(range(20, 0, -1))
    with pytest.raises(ZeroDivisionError):  # the task's own exception, not Ray's wrapper
        executor_for(2, RAY).run(Phase(divide, [(1, 0)], ["z"], tmp_path))


@pytest.mark.usefixtures("fake_slurm")
def test_clean_on_local_ray_and_slurm_is_identical_even_when_a_ray_worker_dies(tmp_path, monkeypatch):
    inp = _corpus(tmp_path)
    cfg = CleanConfig()
    clean([inp], tmp_path / "local", cfg, workers=2)
    clean([inp], tmp_path / "slurm", cfg, workers=2, executor=ExecutorConfig(kind="slurm", poll_s=0.01))

    flag = tmp_path / "died"
    filter_task = clean_pipeline.filter_task

    def dies_once_after_writing(task):
        """Task 1's first attempt writes its outputs, then its worker is killed before the marker."""
        result = filter_task(task)
        if task.index == 1 and not flag.exists():
            flag.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    monkeypatch.setattr(clean_pipeline, "filter_task", dies_once_after_writing)
    summary = clean([inp], tmp_path / "ray", cfg, workers=2, executor=RAY)
    assert flag.exists() and summary.complete
    assert comparable(tmp_path / "ray") == comparable(tmp_path / "local") == comparable(tmp_path / "slurm")


def test_extract_pack_and_overlap_on_ray_equal_local(tmp_path):
    warcs = shared_path("web/commoncrawl-whirlwind")
    inputs = [warcs / "whirlwind.warc.gz", warcs / "whirlwind.warc.wet.gz"]
    for name, executor in (("local", None), ("ray", RAY)):
        extract(ExtractConfig(inputs=inputs, out=tmp_path / name / "docs", workers=2), executor=executor)
        pack(PackConfig(inputs=[tmp_path / name / "docs"], out=tmp_path / name / "tokens", workers=2,
                        tokenizer=shared_path("tokenizers/gpt2"), shard_tokens=2_000, chunk_bytes=2_000), executor=executor)
    for folder in ("docs", "tokens"):
        files = sorted(p.relative_to(tmp_path / "local").as_posix() for p in (tmp_path / "local" / folder).rglob("*")
                       if p.is_file() and p.name not in ("manifest.json", "config.toml", "tasks.json"))  # paths differ
        assert len(files) > 3
        for rel in files:
            assert (tmp_path / "ray" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    eval_file = tmp_path / "eval.txt"
    eval_file.write_text("\n".join(d["text"][:400] for d in iter_documents(tmp_path / "local" / "docs" / "00000.jsonl.zst")))
    corpus = [tmp_path / "local" / "docs"]
    assert overlap_report(corpus, eval_file, 8, 2, executor=RAY) == overlap_report(corpus, eval_file, 8, 2)
