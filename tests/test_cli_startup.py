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
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.stderr)
"""


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
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "gptkit" in loaded and "typer" in loaded  # the probe really ran the CLI
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
