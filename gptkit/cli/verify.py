"""``gptkit verify DIR``: check an output directory against its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.ui import err, out
from gptkit.errors import StageFailure


def register(app: typer.Typer) -> None:
    app.command(name="verify")(verify)


def verify(
    directories: Annotated[list[Path], typer.Argument(help="Stage output directories (each holds a manifest.json).")],
    quick: Annotated[bool, typer.Option("--quick", help="Check presence and sizes only, not hashes.")] = False,
) -> None:
    """Check that every file a manifest lists is present, of the right size and hash.

    Examples:

      gptkit verify runs/quickstart/clean

      gptkit verify runs/*/tokens --quick
    """
    from gptkit.io.manifest import read_manifest
    from gptkit.io.manifest import verify as verify_dir

    bad = 0
    for d in directories:
        n = len(read_manifest(d).get("outputs", []))
        problems = verify_dir(d, check_hashes=not quick)
        for p in problems:
            err.print(f"[red]FAIL[/] {d / p.path}: {p.reason}", markup=True, highlight=False)
        if problems:
            bad += 1
        else:
            out.print(f"ok  {d}  ({n} files)")
    if bad:
        raise StageFailure(f"{bad} of {len(directories)} directories failed verification")
