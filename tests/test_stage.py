"""The stage runner: identity, reuse, foreign output folders and unfinished inputs (issues 13, 14)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, run_gptkit
from train_data import make_token_dir

from gptkit.errors import UsageError
from gptkit.io.manifest import Manifest, file_record
from gptkit.stage import STAGE_FILE, StageRun, check_inputs, check_out_dir, identity

SAMPLE_DOCS = REPO / "gptkit" / "samples" / "wikipedia-articles.jsonl.gz"
NANO = REPO / "recipes" / "train" / "nano-cpu.toml"


def write_docs(path: Path, n: int = 40) -> Path:
    """The first ``n`` documents of the bundled Wikipedia sample (CC BY-SA) as a JSONL file."""
    with gzip.open(SAMPLE_DOCS, "rt", encoding="utf-8") as f:
        lines = [line for _, line in zip(range(n), f, strict=False)]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def finished(out: Path, stage: str, ident: dict, inputs: list[dict] | None = None) -> StageRun:
    run = StageRun(stage, out, ident, inputs or [])
    run.begin()
    (out / "result.txt").write_text("done")
    run.finish(Manifest(stage=stage, config=ident, inputs=run.inputs, outputs=[file_record(out / "result.txt", out)]))
    return run


# -- the runner on its own ------------------------------------------------------------------------


def test_identity_leaves_out_run_only_settings_nested_too():
    config = {"out": "a", "threads": 8, "workers": 4, "merges": 100, "decontaminate": {"eval_files": ["x"], "ngram": 13}}
    assert identity(config, ("out", "threads", "workers", "decontaminate.eval_files")) == {
        "merges": 100, "decontaminate": {"ngram": 13}}  # fmt: skip


def test_a_finished_run_is_reused_only_for_the_same_identity_and_inputs(tmp_path):
    out = tmp_path / "out"
    inputs = [{"path": "a", "bytes": 3, "hash": "xxh3_128:1"}]
    finished(out, "clean", {"k": 1}, inputs)
    moved = [{"path": "elsewhere/a", "bytes": 3, "hash": "xxh3_128:1"}]  # same content, other path
    assert StageRun("clean", out, {"k": 1}, moved).reuse() is not None
    assert StageRun("clean", out, {"k": 2}, inputs).reuse() is None
    assert StageRun("clean", out, {"k": 1}, [{**inputs[0], "hash": "xxh3_128:2"}]).reuse() is None
    (out / "result.txt").unlink()  # an output went missing: not finished any more
    assert StageRun("clean", out, {"k": 1}, inputs).reuse() is None
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "outputs": [{"bytes": 1}]}))  # edited by hand
    assert StageRun("clean", out, {"k": 1}, inputs).reuse() is None


def test_begin_marks_the_folder_before_any_output_and_drops_an_old_manifest(tmp_path):
    out = tmp_path / "out"
    finished(out, "pack", {"k": 1})
    StageRun("pack", out, {"k": 2}).begin()
    assert json.loads((out / STAGE_FILE).read_text())["stage"] == "pack"
    assert not (out / "manifest.json").exists()
    with pytest.raises(UsageError, match="unfinished `data pack` run: rerun it first"):
        check_inputs([out / "result.txt"])


def test_out_folders_of_other_stages_or_of_the_user_are_refused(tmp_path):
    finished(tmp_path / "ext", "extract", {})
    with pytest.raises(UsageError, match="holds a `data extract` output, not a `data clean` one"):
        check_out_dir(tmp_path / "ext", "clean")
    check_out_dir(tmp_path / "ext", "extract")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="files gptkit did not write"):
        check_out_dir(tmp_path / "mine", "pack")
    (tmp_path / "empty").mkdir()
    check_out_dir(tmp_path / "empty", "pack")
    check_out_dir(tmp_path / "new", "pack")


def test_inputs_plain_files_finished_outputs_and_paused_training_are_accepted(tmp_path):
    (tmp_path / "plain.jsonl").write_text("{}\n")
    finished(tmp_path / "done", "clean", {})
    paused = tmp_path / "run"
    StageRun("train", paused, {}).begin()
    check_inputs([tmp_path / "plain.jsonl", tmp_path / "done" / "result.txt"])
    check_inputs([paused], partial_ok=("train",))
    with pytest.raises(UsageError, match="unfinished `train` run"):
        check_inputs([paused])


# -- through the CLI --------------------------------------------------------------------------------


def assert_reused(proc, *outputs: Path, before: dict[Path, int]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "already complete" in proc.stderr, proc.stderr
    for out in outputs:
        assert (out / "manifest.json").stat().st_mtime_ns == before[out]  # left exactly as it was


def mtimes(*outs: Path) -> dict[Path, int]:
    return {out: (out / "manifest.json").stat().st_mtime_ns for out in outs}


@pytest.mark.slow
def test_every_stage_reuses_its_output_when_only_threads_or_workers_change(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl")
    (tmp_path / "html").mkdir()
    for i in range(3):
        (tmp_path / "html" / f"p{i}.html").write_text(f"<html><body><p>Page {i} says hello world.</p></body></html>")
    (tmp_path / "urls.txt").write_text("http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b\n")
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "urls.txt").write_text((tmp_path / "urls.txt").read_text())
    u, c, x, cl, tok, pk, tr, ev, hf, im = (tmp_path / n for n in
                                            ("u", "c", "x", "cl", "tok", "pk", "tr", "ev", "hf", "im"))  # fmt: skip
    runs = [
        (("data", "urls", tmp_path / "urls.txt", "--out", u), ("data", "urls", copy / "urls.txt", "--out", u), u),
        (("data", "crawl", u, "--out", c), ("data", "crawl", u, "--out", c, "--set", "crawl.progress_every=2"), c),
        (("data", "extract", tmp_path / "html", "--out", x, "-w", "1"),
         ("data", "extract", tmp_path / "html", "--out", x, "-w", "2"), x),
        (("data", "clean", docs, "--out", cl, "-w", "1"), ("data", "clean", docs, "--out", cl, "-w", "2"), cl),
        (("tokenizer", "train", cl, "--out", tok, "-m", "300", "--threads", "1"),
         ("tokenizer", "train", cl, "--out", tok, "-m", "300", "--threads", "2"), tok),
        (("data", "pack", cl, "--tokenizer", tok, "--out", pk, "-w", "1", "--val-docs", "2"),
         ("data", "pack", cl, "--tokenizer", tok, "--out", pk, "-w", "2", "--val-docs", "2"), pk),
        (("train", "-r", NANO, "--data", pk, "--out", tr, "--steps", "3", "--threads", "1"),
         ("train", "-r", NANO, "--data", pk, "--out", tr, "--steps", "3", "--threads", "2"), tr),
        (("eval", tr, "--tasks", "lambada", "--limit", "2", "--out", ev, "--set", "eval.threads=1"),
         ("eval", tr, "--tasks", "lambada", "--limit", "2", "--out", ev, "--set", "eval.threads=2"), ev),
        (("export", tr, "--out", hf), ("export", tr, "--out", hf), hf),
        (("import", hf, "--out", im), ("import", hf, "--out", im), im),
    ]
    for first, again, out in runs:
        proc = run_gptkit(*first)
        assert proc.returncode == 0, (first, proc.stderr)
        assert_reused(run_gptkit(*again), out, before=mtimes(out))


def test_another_stages_folder_or_a_users_folder_is_refused_as_out(tmp_path):
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "p.html").write_text("<html><body><p>Hello there, world of pages.</p></body></html>")
    extracted = tmp_path / "extracted"
    assert run_gptkit("data", "extract", tmp_path / "html", "--out", extracted, "-w", "1").returncode == 0
    before = {p: p.read_bytes() for p in extracted.rglob("*") if p.is_file()}
    docs = write_docs(tmp_path / "docs.jsonl", 5)
    proc = run_gptkit("data", "clean", docs, "--out", extracted, "-w", "1")
    assert_one_line_error(proc, str(extracted), "holds a `data extract` output, not a `data clean` one")
    proc = run_gptkit("tokenizer", "train", docs, "--out", extracted, "-m", "50")
    assert_one_line_error(proc, "holds a `data extract` output, not a `tokenizer train` one")
    assert {p: p.read_bytes() for p in extracted.rglob("*") if p.is_file()} == before  # nothing touched
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    proc = run_gptkit("data", "extract", tmp_path / "html", "--out", mine)
    assert_one_line_error(proc, str(mine), "files gptkit did not write")
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]


def test_an_unfinished_clean_output_is_refused_as_input_and_plain_files_are_read(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl", 30)
    cleaned = tmp_path / "clean"
    assert run_gptkit("data", "clean", docs, "--out", cleaned, "-w", "1").returncode == 0
    (cleaned / "manifest.json").unlink()  # what a kill after the shards, before the manifest, leaves
    for args in (("tokenizer", "train", cleaned, "--out", tmp_path / "tok", "-m", "50"),
                 ("tokenizer", "train", cleaned / "00000.jsonl.zst", "--out", tmp_path / "tok", "-m", "50")):
        proc = run_gptkit(*args)
        assert_one_line_error(proc, f"{cleaned} is an unfinished `data clean` run: rerun it first")
    assert not (tmp_path / "tok").exists()
    assert run_gptkit("tokenizer", "train", docs, "--out", tmp_path / "tok", "-m", "50").returncode == 0


def test_train_refuses_an_unfinished_pack(tmp_path):
    tokens = make_token_dir(tmp_path / "tokens")
    (tokens / STAGE_FILE).write_text(json.dumps({"stage": "pack"}))
    (tokens / "manifest.json").unlink()
    proc = run_gptkit("train", "-r", NANO, "--data", tokens, "--out", tmp_path / "run", "--steps", "2")
    assert_one_line_error(proc, f"{tokens} is an unfinished `data pack` run: rerun it first")


def test_rerunning_a_finished_train_leaves_its_manifest_as_it_is(tmp_path):
    tokens = make_token_dir(tmp_path / "tokens")
    args = ("train", "-r", NANO, "--data", tokens, "--out", tmp_path / "run", "--steps", "3",
            "--set", "train.block_size=32", "--set", "train.eval_interval=3")  # fmt: skip
    assert run_gptkit(*args).returncode == 0
    manifest = (tmp_path / "run" / "manifest.json").read_bytes()
    assert json.loads(manifest)["summary"]["final_loss"] is not None
    again = run_gptkit(*args)
    assert again.returncode == 0 and "already complete" in again.stderr, again.stderr
    assert (tmp_path / "run" / "manifest.json").read_bytes() == manifest


def test_a_pack_refused_by_validation_does_not_block_the_corrected_retry(tmp_path):
    docs = write_docs(tmp_path / "docs.jsonl", 20)
    assert run_gptkit("tokenizer", "train", docs, "--out", tmp_path / "tok", "-m", "50").returncode == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": ""}\n{"text": "   "}\n')
    out = tmp_path / "tokens"
    proc = run_gptkit("data", "pack", empty, "--tokenizer", tmp_path / "tok", "--out", out, "-w", "1")
    assert proc.returncode == 2 and "no documents to pack" in proc.stderr, proc.stderr
    retry = run_gptkit("data", "pack", docs, "--tokenizer", tmp_path / "tok", "--out", out, "-w", "1")
    assert retry.returncode == 0, retry.stderr
    assert json.loads((out / "manifest.json").read_text())["counts"]["train_documents"] > 0


def test_a_train_killed_before_its_manifest_gets_the_figures_it_logged(tmp_path):
    tokens = make_token_dir(tmp_path / "tokens")
    args = ("train", "-r", NANO, "--data", tokens, "--out", tmp_path / "run", "--steps", "3",
            "--set", "train.block_size=32", "--set", "train.eval_interval=3")  # fmt: skip
    assert run_gptkit(*args).returncode == 0
    first = json.loads((tmp_path / "run" / "manifest.json").read_text())["summary"]
    (tmp_path / "run" / "manifest.json").unlink()  # what a kill after the last checkpoint leaves
    assert run_gptkit(*args).returncode == 0
    again = json.loads((tmp_path / "run" / "manifest.json").read_text())["summary"]
    assert (again["final_loss"], again["final_val_loss"]) == (first["final_loss"], first["final_val_loss"])
    assert again["tokens_per_s"] > 0
