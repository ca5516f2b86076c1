"""Shared test helpers: thread limits, the shared data folder, and running the real CLI."""

from __future__ import annotations

import os

# Two busy OpenMP threads beside another process ran 3.6x slower on this machine: tests are
# single-threaded unless they say otherwise. Set before torch/tokenizers are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gzip  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# A suite started in the background by a non-interactive shell (`pytest ... &`, nohup in a
# script) inherits SIGINT ignored, and so would every gptkit process the Ctrl-C tests start
# (an ignored signal stays ignored across exec): give them the default back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = Path(os.environ.get("GPTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
_UNPACKED = Path(tempfile.gettempdir()) / f"gptkit-test-data-{os.getuid()}"


def shared_path(relative: str) -> Path:
    """A test data file or folder: the repository's own fixtures (tests/data, see its SOURCES.md) first,
    else ../shared/data (large optional checks); skips the test (with the reason) when neither has it."""
    if (TEST_DATA / relative).exists() or (TEST_DATA / f"{relative}.fixture.gz").exists():
        return _unpacked(relative)
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set GPTKIT_SHARED_DATA to its folder)")
    return path


def _unpacked(relative: str) -> Path:
    """tests/data stores big text fixtures as ``NAME.fixture.gz``; tests read them as ``NAME``, from a
    per-user copy of the file or folder (made once)."""
    source = TEST_DATA / relative
    if source.is_file() or (source.is_dir() and not any(source.rglob("*.fixture.gz"))):
        return source
    target = _UNPACKED / relative
    if not source.exists():
        _place(source.with_name(source.name + ".fixture.gz"), target)
    for path in sorted(source.rglob("*")) if source.is_dir() else []:
        if path.is_file():
            _place(path, target / path.relative_to(source))
    return target


def _place(source: Path, target: Path) -> None:
    """Copy (gunzipping a ``.fixture.gz``) unless an up-to-date copy exists; renamed into place so
    parallel runs never see half a file."""
    packed = source.name.endswith(".fixture.gz")
    target = target.with_name(target.name.removesuffix(".fixture.gz"))
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with gzip.open(source) if packed else open(source, "rb") as f, open(partial, "wb") as out:
        shutil.copyfileobj(f, out)
    os.replace(partial, target)


@pytest.fixture
def shared():
    return shared_path


def run_gptkit(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600,
               input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real ``gptkit`` command in a new process; returns the completed process."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gptkit", *map(str, args)],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, input=input,
    )  # fmt: skip


@pytest.fixture
def gptkit():
    return run_gptkit


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str, code: int = 2) -> None:
    """A user error: the given exit code, one line on stderr naming what is wrong, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def cli_commands() -> list[tuple[list[str], object]]:
    """``(["data", "clean"], click command)`` for the root, every group and every command of the CLI,
    each loaded as it is when invoked (the groups import their subcommands on demand)."""
    import typer

    from gptkit.cli.main import app

    found: list[tuple[list[str], object]] = []

    def walk(cmd, path):
        found.append((path, cmd))
        if hasattr(cmd, "list_commands"):
            ctx = typer.Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(typer.main.get_command(app), [])
    return found
