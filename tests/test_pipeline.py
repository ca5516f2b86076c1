"""`gptkit run` / `gptkit quickstart`: recipes validate, stages chain, reruns skip, a report is written."""

import json
import re
import socket

import pytest
from conftest import REPO, assert_one_line_error, run_gptkit

from gptkit.config import load_recipe
from gptkit.pipeline.run import CONFIG_CLASSES, stage_config

RECIPES = sorted((REPO / "recipes").glob("*.toml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_is_valid(recipe):
    data = load_recipe(recipe)
    sections = [s for s in data if s != "run"]
    assert sections, recipe
    for section in sections:
        stage_config(section, data, [])
    for stage in data.get("run", {}).get("stages", []):
        assert stage in CONFIG_CLASSES


def test_stage_recipes_are_valid():
    for recipe in sorted((REPO / "recipes").glob("*/*.toml")):
        data = load_recipe(recipe)
        for section in data:
            stage_config(section, data, [])


def test_bad_recipe_fails_before_any_stage_runs(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[run]\nstages = ["site", "urls"]\n[eval]\nlimitt = 3\n')
    proc = run_gptkit("run", recipe, "--out", tmp_path / "run")
    assert_one_line_error(proc, "eval.limitt")
    assert not (tmp_path / "run" / "site").exists()
    proc = run_gptkit("run", recipe, "--out", tmp_path / "run", "--set", "trian.steps=3")
    assert_one_line_error(proc, "unknown section 'trian'")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_quickstart_recipe_end_to_end(tmp_path):
    """The quickstart recipe on the bundled sample, with a short training run."""
    run_dir = tmp_path / "qs"
    args = ["quickstart", "--out", run_dir, "--workers", "2", "--set", f"site.port={_free_port()}",
            "--set", "train.steps=12", "--set", "train.eval_interval=6", "--set", "train.threads=1",
            "--set", "eval.limit=20", "--set", "eval.bootstrap_iters=10"]  # fmt: skip
    proc = run_gptkit(*args, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for stage in ("urls", "crawl", "extract", "clean", "tokenizer", "pack", "train", "eval"):
        manifest = json.loads((run_dir / stage / "manifest.json").read_text())
        assert manifest["stage"], stage
    assert "<h2>Data funnel</h2>" in (run_dir / "report.html").read_text()
    assert (run_dir / "loss.png").stat().st_size > 1000
    assert (run_dir / "generate" / "sample.txt").read_text().startswith("The")
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    assert "acc,none" in next(iter(results["results"].values()))
    crawl_log = [json.loads(line) for line in (run_dir / "crawl" / "fetch_log.jsonl").read_text().splitlines()]
    assert any("robots" in json.dumps(rec) for rec in crawl_log)  # /private/ is disallowed
    assert "lambada" in proc.stdout and "report:" in proc.stdout

    ran = {p.stem: p.stat().st_mtime_ns for p in (run_dir / ".stages").iterdir()}
    again = run_gptkit(*args, timeout=600)  # every stage is complete: nothing runs again
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = {p.stem: p.stat().st_mtime_ns for p in (run_dir / ".stages").iterdir()}
    assert {k for k in ran if rerun[k] != ran[k]} <= {"generate"}  # sampling is cheap and always redone
    assert again.stdout.count("skipped") >= 8


@pytest.mark.slow
def test_small_run_report_and_verify(tmp_path):
    """A quickstart on 60 pages: report.html gives time, speed, tokenizer, funnel reasons, the eval
    limit and % beside the papers' %; `verify RUN` checks every stage and skips site/ and generate/."""
    run_dir = tmp_path / "small"
    proc = run_gptkit("quickstart", "--out", run_dir, "--workers", "2", "--set", f"site.port={_free_port()}",
                      "--set", "site.pages=60", "--set", "tokenizer.merges=500", "--set", "train.steps=12",
                      "--set", "train.eval_interval=6", "--set", "train.threads=1", "--set", "eval.limit=20",
                      "--set", "eval.bootstrap_iters=10", timeout=1200)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (run_dir / "report.html").read_text()
    for expected in ("total time", "CPU (user + system)", "<th>CPU seconds</th>", "tokens/s", "MFU", "bytes/token", "20 of 5,153 documents (eval.limit)",
                     "disallowed by robots.txt 1", "other_language", "read besides the crawl",
                     "<h2>Recipe</h2>", "# --set train.steps=12", "<h2>Versions</h2>", "lm_eval", "torch"):
        assert expected in html, expected
    acc_row = next(row for row in html.split("<tr>") if "<td>acc</td>" in row)
    assert re.search(r"<td>[\d.]+ %</td>", acc_row) and "GPT-2 117M: 45.99 %" in acc_row
    assert "total time:" in proc.stdout

    verify = run_gptkit("verify", run_dir)
    assert verify.returncode == 0, verify.stderr
    rows = {line.split()[1].rsplit("/", 1)[-1]: line for line in verify.stdout.splitlines() if str(run_dir) in line}
    assert "skipped" in rows["site"] and "skipped" in rows["generate"]
    assert all("ok" in rows[s] for s in ("urls", "crawl", "extract", "clean", "tokenizer", "pack", "train", "eval"))
