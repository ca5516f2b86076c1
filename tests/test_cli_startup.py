"""`gptkit --help` and usage errors stay fast: the CLI imports no heavy library before a command runs.

Checked through ``sys.modules`` in a fresh interpreter (timings are never asserted: the machine is shared).
"""

import json
import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = ("torch", "lm_eval", "datasets", "transformers", "numpy", "tokenizers", "pyarrow", "trafilatura",
         "resiliparse")  # fmt: skip

PROBE = """
import json, runpy, sys
sys.argv = ["gptkit", *sys.argv[1:]]
try:
    runpy.run_module("gptkit", run_name="__main__") if len(sys.argv) > 1 else __import__("gptkit.cli.main")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def loaded_modules(argv: list[str]) -> set[str]:
    """Every module a fresh interpreter has imported after running ``gptkit argv``."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["train", "--help"],
        ["eval", "--help"],
        ["data", "extract", "--help"],
        ["tokenizer", "train", "--help"],
        ["train", "--no-such-option"],
        ["generate"],
    ],  # fmt: skip
    ids=lambda argv: " ".join(argv) or "import gptkit.cli.main",
)
def test_help_and_usage_errors_import_no_heavy_library(argv):
    loaded = {name.split(".")[0] for name in loaded_modules(argv)}
    assert "gptkit" in loaded and "typer" in loaded  # the probe really ran the CLI
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


OTHERS = {f"gptkit.cli.{name}" for name in ("train", "eval", "model", "chat", "tokenizer")}


@pytest.mark.parametrize(
    ("argv", "own", "not_loaded"),
    [
        (["--help"], set(), OTHERS | {"gptkit.cli.data"}),
        (["data", "clean", "--help"], {"gptkit.cli.data_clean"}, OTHERS | {"gptkit.cli.data_web"}),
        (["data", "extract"], {"gptkit.cli.data_web"}, OTHERS | {"gptkit.cli.data_clean"}),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_one_command_loads_only_its_own_module(argv, own, not_loaded):
    """The groups import a subcommand's module only when it is invoked, and options are not coerced
    (pydantic) before they have values; help renders without rich's markdown, traceback and
    progress-bar modules."""
    loaded = loaded_modules(argv)
    assert own <= loaded
    unused = not_loaded | {"pydantic", "rich.markdown", "rich.traceback", "rich.progress"}
    assert loaded.isdisjoint(unused), loaded & unused


def test_help_renderer_placeholders_leave_the_real_modules():
    """After help is rendered without them, rich.markdown and rich.traceback import for real, and
    Typer's references to them build real objects."""
    code = """
import sys
from gptkit.cli.app import import_help_renderer
import_help_renderer()
import rich.markdown, typer.rich_utils
assert isinstance(typer.rich_utils.Markdown("*x*"), rich.markdown.Markdown)
assert hasattr(rich.markdown, "Heading") and "rich.markdown" in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
