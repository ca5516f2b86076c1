"""Recipes map onto typed configs; overrides; unknown keys and wrong types are rejected."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from gptkit.config import build, dump_toml, load_recipe, resolve
from gptkit.errors import ConfigError


@dataclass
class Optim:
    lr: float = 6e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])


@dataclass
class TrainCfg:
    steps: int = 100
    name: str = "run"
    compile: bool = False
    schedule: Literal["cosine", "wsd"] = "cosine"
    optim: Optim = field(default_factory=Optim)
    note: str | None = None


RECIPE = """
[train]
steps = 2000
name = "gpt1"
[train.optim]
lr = 2.5e-4
"""


def test_recipe_then_options_then_overrides(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    cfg = resolve(TrainCfg, "train", recipe=path, options={"name": "cli", "steps": None},
                  overrides=["train.optim.lr=3e-4", "train.schedule=wsd"])  # fmt: skip
    assert cfg.steps == 2000  # recipe (option None = not given)
    assert cfg.name == "cli"  # option beats recipe
    assert cfg.optim.lr == 3e-4  # --set beats recipe
    assert cfg.schedule == "wsd"
    assert cfg.optim.betas == [0.9, 0.95]  # default


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.optim.lrr'"):
        resolve(TrainCfg, "train", overrides=["train.optim.lrr=1"])
    path = tmp_path / "r.toml"
    path.write_text("[train]\nstepz = 3\n")
    with pytest.raises(ConfigError, match=r"'train.stepz'"):
        resolve(TrainCfg, "train", recipe=path)


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"train.steps: expected an integer, got string 'many'"):
        resolve(TrainCfg, "train", overrides=["train.steps=many"])
    with pytest.raises(ConfigError, match=r"train.compile: expected true or false"):
        build(TrainCfg, {"compile": 1}, "train")
    with pytest.raises(ConfigError, match=r"train.schedule: expected one of"):
        build(TrainCfg, {"schedule": "linear"}, "train")
    with pytest.raises(ConfigError, match=r"train.optim.betas\[1\]: expected a number"):
        build(TrainCfg, {"optim": {"betas": [0.9, "x"]}}, "train")


def test_override_for_another_section_is_rejected():
    with pytest.raises(ConfigError, match="clean.workers"):
        resolve(TrainCfg, "train", overrides=["clean.workers=2"])


def test_bad_toml_and_missing_recipe(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_recipe(bad)
    with pytest.raises(ConfigError, match="recipe not found"):
        load_recipe(tmp_path / "none.toml")


def test_resolved_config_round_trips(tmp_path):
    cfg = resolve(TrainCfg, "train", overrides=["train.optim.lr=1e-3"])
    dump_toml({"train": cfg}, tmp_path / "config.toml")
    again = resolve(TrainCfg, "train", recipe=tmp_path / "config.toml")
    assert again == cfg


def test_urls_in_path_fields_stay_urls():
    """Path('s3://b/x') would be 's3:/b/x': a recipe's remote inputs and outputs must survive as written."""
    from gptkit.pack.config import PackConfig

    cfg = resolve(PackConfig, "pack", None, {}, ["pack.out=s3://b/tokens", 'pack.inputs=["gs://b/docs/", "docs"]'])
    assert cfg.out == "s3://b/tokens" and cfg.inputs == ["gs://b/docs/", Path("docs")]
