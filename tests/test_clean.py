"""`gptkit data clean`: filters, bad input, shared corpora, kill-and-resume, task ranges."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
import zstandard
from conftest import REPO, assert_one_line_error, run_gptkit, shared_path

from gptkit.data.clean import CleanConfig, clean
from gptkit.data.clean.config import (
    C4Config,
    FineWebConfig,
    GopherQualityConfig,
    GopherRepetitionConfig,
    LanguageConfig,
    PiiConfig,
    UrlFilterConfig,
)
from gptkit.data.clean.filters.c4 import C4Filter
from gptkit.data.clean.filters.fineweb import FineWebFilter
from gptkit.data.clean.filters.gopher_quality import GopherQualityFilter
from gptkit.data.clean.filters.gopher_repetition import GopherRepetitionFilter
from gptkit.data.clean.filters.language import LanguageFilter
from gptkit.data.clean.filters.url import UrlFilter
from gptkit.data.clean.pii import PiiMasker
from gptkit.io.manifest import verify
from gptkit.io.shards import iter_documents, write_documents

PROSE = (
    "The river had risen during the night, and by morning the old bridge was under water. "
    "People from the village came down to look at it and to talk about what they should do. "
    "Some of them wanted to wait for the water to fall, but others thought that they had to act at once.\n"
)


def doc(text, **meta):
    return {"id": "d", "text": text, "metadata": dict(meta)}


def test_language_filter_records_language_and_score():
    f = LanguageFilter(LanguageConfig())
    en, fr = doc(PROSE), doc("Le chat dort sur le canapé pendant que les enfants jouent dans le jardin avec leurs amis.")
    assert f(en) is None and en["metadata"]["language"] == "en" and en["metadata"]["language_score"] >= 0.65
    assert f(fr) == "other_language" and fr["metadata"]["language"] == "fr"


def test_quality_filters_with_datatrove_reasons():
    rep = GopherRepetitionFilter(GopherRepetitionConfig())
    assert rep(doc("Buy now!\n" * 20 + PROSE)) == "dup_line_frac"
    assert rep(doc(PROSE * 1)) is None
    qual = GopherQualityFilter(GopherQualityConfig())
    assert qual(doc("too short to be a page")) == "gopher_short_doc"
    assert qual(doc(PROSE * 2)) is None
    assert qual(doc("1234 5678 9012 ! " * 30 + PROSE)) == "gopher_below_alpha_threshold"
    c4 = C4Filter(C4Config())
    page = doc("Please enable JavaScript to view this page.\n" + (PROSE + "[1]\n") * 2)
    assert c4(page) is None and "JavaScript" not in page["text"] and "[1]" not in page["text"]
    assert c4(doc(PROSE + "\nfunction f() { return 1; }")) == "curly_bracket"
    assert c4(doc("One line only.")) == "too_few_sentences"
    fw = FineWebFilter(FineWebConfig())
    assert fw(doc("\n".join(["Home.", "About.", "Contact.", "Shop.", "Cart.", PROSE.strip()]))) == "short_line_ratio"
    assert fw(doc("\n".join(["Home", "About", PROSE.strip()[:-1]] * 4))) == "line_punct_ratio"
    assert fw(doc(PROSE + "\n" + PROSE.upper())) is None


def test_url_filter_and_pii():
    f = UrlFilter(UrlFilterConfig(enabled=True, domains=["example.com"]))
    assert f(doc(PROSE, url="https://news.example.com/a")) == "blocked_domain"
    assert f(doc(PROSE, url="https://notexample.com/a")) is None
    masked, n = PiiMasker(PiiConfig(enabled=True))("mail bob@corp.io from 8.8.8.8, not 10.0.0.1 or 1.2.3.4.5")
    assert "bob@corp.io" not in masked and "8.8.8.8" not in masked and "10.0.0.1" in masked and n == 2


def _english_docs(n, prefix="d"):
    other = (
        "In the afternoon a farmer brought his tractor and a long rope, and the men tried to pull the fallen "
        "tree away from the arches. It took them three hours, but when they had finished the water ran freely again.\n"
    )
    return [{"id": f"{prefix}{i}", "text": f"Story number {i} of {prefix}. " + PROSE + other, "metadata": {}} for i in range(n)]


def test_bad_input_is_reported_counted_and_skipped(tmp_path):
    inp = tmp_path / "in"
    write_documents(inp / "00000.jsonl.zst", _english_docs(3, "good"))
    lines = [orjson.dumps(d) for d in _english_docs(2, "mixed")]
    lines[1:1] = [b"{not json", b'{"id": "x"}', b'{"id": "y", "text": "bad \xff bytes"}']
    (inp / "00001.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    whole = zstandard.ZstdCompressor().compress(b"\n".join(orjson.dumps(d) for d in _english_docs(4000, "trunc")))
    (inp / "00002.jsonl.zst").write_bytes(whole[: len(whole) // 2])  # truncated shard
    (inp / "00003.jsonl.zst").write_bytes(b"\x28\xb5\x2f\xfd garbage that is not zstd")  # corrupt
    (inp / "00004.jsonl").write_bytes(b"")  # empty
    big = orjson.dumps({"id": "huge", "text": "word " * 21_000_000})  # a 105 MB document
    (inp / "00005.jsonl").write_bytes(orjson.dumps(_english_docs(1, "beforebig")[0]) + b"\n" + big + b"\n" + orjson.dumps(_english_docs(1, "afterbig")[0]) + b"\n")
    del big
    cfg = CleanConfig()
    cfg.dedup.exact = cfg.dedup.minhash = False
    summary = clean([inp], tmp_path / "out", cfg, workers=2)
    issues = summary.stats["input_issues"]
    assert issues["by_reason"]["invalid JSON"] == 1 and issues["by_reason"]["missing 'text'"] == 1
    assert issues["by_reason"]["invalid UTF-8"] == 1 and issues["by_reason"]["empty file"] == 1
    assert issues["by_reason"]["corrupt or truncated data"] == 2 and issues["by_reason"]["document too large"] == 1
    assert any(e.startswith(str(inp / "00001.jsonl") + ":2: invalid JSON") for e in issues["examples"])
    assert any(e.startswith(str(inp / "00005.jsonl") + ":2: document too large") for e in issues["examples"])
    ids = {d["id"] for p in (tmp_path / "out").glob("*.jsonl.zst") for d in iter_documents(p)}
    assert {"good0", "good2", "mixed0", "mixed1", "beforebig0", "afterbig0", "trunc0"} <= ids
    assert 0 < sum(i.startswith("trunc") for i in ids) < 4000


def test_shared_corpora_via_cli(tmp_path):
    web = shared_path("corpora/web-text")
    owt = shared_path("corpora/openwebtext-sample")
    wiki = shared_path("corpora/wikitext/wikitext-2.test.tokens")
    lambada = shared_path("lambada/lambada_test.jsonl")
    out = tmp_path / "clean"
    args = ["data", "clean", web, owt, wiki, "--out", out, "--decontaminate", lambada, "--keep-removed", "--pii", "-w", "2"]
    proc = run_gptkit(*args)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents_in"] == 697 + 10 + 10 + 4 + 1
    assert stats["steps"]["language"]["dropped"]["other_language"] > 100  # the CC sample is multilingual
    assert 20 < stats["documents_out"] < stats["documents_in"]
    assert stats["steps"]["exact_dedup"]["dropped"].get("duplicate", 0) >= 1
    assert "gopher_repetition" in proc.stderr and "minhash_dedup" in proc.stderr  # the summary table
    assert (out / "funnel.png").read_bytes()[:4] == b"\x89PNG"
    removed = list((out / "removed" / "language").glob("*.jsonl.zst"))
    assert sum(1 for p in removed for _ in iter_documents(p)) == sum(stats["steps"]["language"]["dropped"].values())
    kept = [d for p in sorted(out.glob("*.jsonl.zst")) for d in iter_documents(p)]
    assert len(kept) == stats["documents_out"]
    assert all(d["metadata"]["language"] == "en" and d["metadata"]["language_score"] >= 0.65 for d in kept)
    assert verify(out) == [] and (out / "config.toml").is_file()
    again = run_gptkit(*args)
    assert again.returncode == 0 and "already complete" in again.stderr


def _split_corpus(tmp_path, parts=6):
    """The dolma CC sample in ``parts`` zstd shards (plus a few planted exact duplicates)."""
    docs = list(iter_documents(shared_path("corpora/web-text/dolma-cc-by-CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz")))
    docs += [{**d, "id": d["id"] + "-copy"} for d in docs[::50]]
    inp = tmp_path / "in"
    for k in range(parts):
        write_documents(inp / f"{k:05d}.jsonl.zst", docs[k::parts])
    return inp


def _outputs(out):
    names = sorted(p.name for p in out.glob("*.jsonl.zst")) + ["stats.json", "config.toml"]
    return {name: (out / name).read_bytes() for name in names}


def _start(inp, out, *extra):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gptkit", "-q", "data", "clean", str(inp), "--out", str(out), "-w", "1", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["filter-00002", "write-00001"])
def test_sigkill_then_resume_is_byte_identical(tmp_path, kill_after):
    inp = _split_corpus(tmp_path)
    lambada = shared_path("lambada/lambada_test.jsonl")
    full = run_gptkit("data", "clean", inp, "--out", tmp_path / "full", "-w", "1", "--decontaminate", lambada)
    assert full.returncode == 0, full.stderr

    out = tmp_path / "killed"
    proc = _start(inp, out, "--decontaminate", str(lambada))
    marker = out / "completions" / f"{kill_after}.json"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    resumed = run_gptkit("data", "clean", inp, "--out", out, "-w", "1", "--decontaminate", lambada)
    assert resumed.returncode == 0, resumed.stderr
    assert _outputs(out) == _outputs(tmp_path / "full")
    assert verify(out) == []


def test_task_ranges_on_two_machines_match_one_run(tmp_path):
    inp = _split_corpus(tmp_path, parts=3)
    cfg = CleanConfig(tasks=3)
    one = clean([inp], tmp_path / "one", cfg, workers=1)
    first = clean([inp], tmp_path / "shared", cfg, task_range="0:2")
    assert not first.complete and "1 of 3 filter tasks" in first.pending
    second = clean([inp], tmp_path / "shared", cfg, task_range="2:3")  # builds the index, writes shard 2
    assert not second.complete and "2 of 3 write tasks" in second.pending
    last = clean([inp], tmp_path / "shared", cfg, task_range="0:2")
    assert last.complete and one.stats == last.stats
    assert _outputs(tmp_path / "one") == _outputs(tmp_path / "shared")


def test_user_errors_are_one_line(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"text": PROSE}) + "\n")
    assert_one_line_error(run_gptkit("data", "clean", inp, "--out", tmp_path / "o", "--set", "clean.dedup.engine=fast"), "clean.dedup.engine")
    assert_one_line_error(run_gptkit("data", "clean", tmp_path / "missing", "--out", tmp_path / "o"), "missing")
    assert_one_line_error(run_gptkit("data", "clean", inp, "--out", tmp_path / "o", "--decontaminate", tmp_path / "nope.jsonl"), "nope.jsonl")
    assert_one_line_error(run_gptkit("data", "clean", inp, "--out", tmp_path / "o", "--num-tasks", "1", "--task-range", "0:5"), "--task-range")
    assert_one_line_error(run_gptkit("data", "clean", inp, "--out", tmp_path), "contains input files")


def test_recipe_sets_the_config(tmp_path):
    from gptkit.config import resolve

    cfg = resolve(CleanConfig, "clean", REPO / "recipes" / "clean" / "fineweb.toml", {}, ["clean.language.threshold=0.7"])
    assert cfg == CleanConfig(language=LanguageConfig(threshold=0.7), pii=PiiConfig(enabled=True))
    gz = tmp_path / "x.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write(json.dumps(_english_docs(1)[0]) + "\n")
    assert clean([gz], tmp_path / "o", cfg).stats["documents_out"] == 1


def test_tasks_group_input_files_in_order(tmp_path):
    from gptkit.data.clean.pipeline import plan_tasks

    files = [tmp_path / f"{i}.jsonl" for i in range(5)]
    tasks = plan_tasks(files, 2, tmp_path)
    assert [[p.rsplit("/", 1)[-1] for p in t.files] for t in tasks] == [["0.jsonl", "1.jsonl"], ["2.jsonl", "3.jsonl", "4.jsonl"]]
    assert len(plan_tasks(files, 0, tmp_path)) == 5 and len(plan_tasks(files, 9, tmp_path)) == 5
