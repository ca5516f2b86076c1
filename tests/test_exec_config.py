"""The executor config: the [executor] recipe table, --set executor.*, and its checks."""

from __future__ import annotations

import pytest

from gptkit.cli.executor_opts import resolve_executor
from gptkit.errors import ConfigError
from gptkit.exec import ExecutorConfig, LocalExecutor, executor_for
from gptkit.exec.config import memory_bytes
from gptkit.exec.slurm import SlurmExecutor
from gptkit.pipeline.run import stage_config


def test_recipe_then_options_then_set(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('[executor]\nkind = "slurm"\npartition = "gpu"\ntime = "01:00:00"\n[clean]\ntasks = 4\n')
    cfg, rest = resolve_executor(recipe, {"partition": "cpu"}, ["executor.retries=5", "clean.tasks=8"])
    assert (cfg.kind, cfg.partition, cfg.time, cfg.retries) == ("slurm", "cpu", "01:00:00", 5)
    assert rest == ["clean.tasks=8"]  # left for the stage
    assert isinstance(executor_for(4, cfg), SlurmExecutor) and isinstance(executor_for(4), LocalExecutor)
    with pytest.raises(ConfigError, match="executor.kind"):
        resolve_executor(None, {}, ["executor.kind=dask"])


def test_gptkit_run_reads_the_executor_table():
    cfg = stage_config("executor", {"executor": {"kind": "ray", "ray_address": "auto"}}, ["executor.cpus_per_task=2"])
    assert cfg == ExecutorConfig(kind="ray", ray_address="auto", cpus_per_task=2)


def test_sizes_and_limits():
    assert memory_bytes("512M") == 512 << 20 and memory_bytes("2GB") == 2 << 30 and memory_bytes("1024") == 1024
    with pytest.raises(ConfigError, match="memory_per_task"):
        ExecutorConfig(memory_per_task="lots")
    with pytest.raises(ConfigError):
        ExecutorConfig(cpus_per_task=0)
    with pytest.raises(ConfigError, match="--executor slurm"):
        ExecutorConfig(kind="ray", dry_run=True)
