"""Composite recipes include the stage presets instead of copying them (tests/test_pipeline.py
resolves every shipped recipe)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from conftest import REPO

from gptkit.config import load_recipe
from gptkit.errors import ConfigError
from gptkit.pipeline.run import stage_config


def test_composite_recipes_take_their_values_from_the_presets():
    small = load_recipe(REPO / "recipes" / "gpt2-small.toml")
    preset = load_recipe(REPO / "recipes" / "train" / "gpt2-small.toml")
    assert small["train"] == preset["train"]
    assert small["train"]["optim"]["lr"] == 6e-4 and small["train"]["schedule"]["min_lr_ratio"] == 0.1
    assert small["tokenizer"] == load_recipe(REPO / "recipes" / "tokenizer" / "gpt2.toml")["tokenizer"]
    gpt1 = stage_config("train", load_recipe(REPO / "recipes" / "gpt1.toml"), [])
    assert (gpt1.optim.beta2, gpt1.sampler, gpt1.model.preset) == (0.999, "random", "gpt1")


@pytest.mark.parametrize("name", ["gpt1", "gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_paper_recipes_copy_no_stage_preset(name):
    """One definition per model shape and stage preset: the papers' pipelines only include them."""
    raw = tomllib.loads((REPO / "recipes" / f"{name}.toml").read_text(encoding="utf-8"))
    assert not {"tokenizer", "pack", "train"} & set(raw), sorted(raw)
    assert f"train/{name}.toml" in raw["include"]


def test_include_merges_tables_and_the_including_recipe_wins(tmp_path):
    (tmp_path / "base.toml").write_text('[train]\nsteps = 10\nmicro_batch = 4\n[train.optim]\nlr = 1e-3\n')
    (tmp_path / "top.toml").write_text('include = ["base.toml"]\n[train]\nsteps = 20\n[train.optim]\nbeta2 = 0.9\n')
    assert load_recipe(tmp_path / "top.toml") == {
        "train": {"steps": 20, "micro_batch": 4, "optim": {"lr": 1e-3, "beta2": 0.9}}}  # fmt: skip


def test_include_cycles_and_missing_files_are_config_errors(tmp_path):
    (tmp_path / "a.toml").write_text('include = ["b.toml"]\n')
    (tmp_path / "b.toml").write_text('include = ["a.toml"]\n')
    with pytest.raises(ConfigError, match="includes itself"):
        load_recipe(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('include = ["nope.toml"]\n')
    with pytest.raises(ConfigError, match="nope.toml"):
        load_recipe(tmp_path / "c.toml")


def test_quickstart_names_its_sample_inputs_and_other_recipes_do_not_get_them(tmp_path):
    quick = load_recipe(REPO / "recipes" / "quickstart.toml")
    extract = stage_config("extract", quick, [], run_dir=tmp_path)
    assert [Path(p).name for p in extract.inputs] == ["crawl", "commoncrawl-wikipedia.warc.gz"]
    assert all(Path(p).exists() for p in extract.inputs[1:])
    webtext = load_recipe(REPO / "recipes" / "webtext.toml")
    wired = {"inputs": [str(tmp_path / "crawl")]}
    assert stage_config("extract", webtext, [], wired, tmp_path).inputs == [tmp_path / "crawl"]
    assert stage_config("clean", webtext, []).decontaminate.eval_files == []
