"""``gptkit verify DIR…``: check output directories, or whole runs, against their manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gptkit.cli.ui import err, out
from gptkit.errors import InputError, StageFailure

MANIFEST = "manifest.json"


def register(app: typer.Typer) -> None:
    app.command(name="verify")(verify)


def verify(
    directories: Annotated[
        list[Path], typer.Argument(help="Stage output directories (each holds a manifest.json) or run directories.")
    ],
    quick: Annotated[bool, typer.Option("--quick", help="Check presence and sizes only, not hashes.")] = False,
) -> None:
    """Check that every file a manifest lists is present, of the right size and hash.

    A run directory (quickstart's, 'gptkit run's) is checked stage by stage: every folder in it
    with a manifest.json; folders without one (site/, generate/) are listed as skipped. Prints a
    table, one FAIL line per damaged file, and exits 1 if any folder failed.

    Examples:

      gptkit verify runs/quickstart

      gptkit verify runs/quickstart/*/ --quick

      gptkit verify runs/w/clean runs/w/tokens
    """
    from rich.table import Table

    folders = [folder for d in directories for folder in _folders(d)]
    if not any(has_manifest for _, has_manifest in folders):
        where = directories[0]
        raise InputError(f"no {MANIFEST} here or in its sub-folders (not a gptkit output or run directory)", where)
    table = Table("folder", "files", "result", title="gptkit verify", title_justify="left")
    failed = 0
    single = sum(has for _, has in folders) == 1  # one stage folder: a corrupt manifest is a user error
    for folder, has_manifest in folders:
        files, result = _check(folder, quick, single) if has_manifest else ("", f"skipped: no {MANIFEST}")
        failed += result.startswith("FAIL")
        table.add_row(str(folder), files, result)
    out.print(table)
    if failed:
        checked = sum(has for _, has in folders)
        raise StageFailure(f"{failed} of {checked} directories failed verification")


def _folders(path: Path, depth: int = 2) -> list[tuple[Path, bool]]:
    """(folder, has a manifest) for one argument: the folder itself when it has a manifest, else
    its sub-folders in pipeline order (a run's stages), down to ``depth`` levels."""
    if (path / MANIFEST).is_file():
        return [(path, True)]
    if not path.is_dir():
        from gptkit.io.manifest import read_manifest

        read_manifest(path)  # raises the one-line "no manifest.json" error naming the path
    subs = sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_stage_order)
    found = [f for sub in subs for f in _folders(sub, depth - 1)] if depth > 0 else []
    return found if any(has for _, has in found) else [(path, False)]


def _stage_order(folder: Path) -> tuple[int, str]:
    from gptkit.pipeline.run import STAGES

    names = list(STAGES)
    return (names.index(folder.name) if folder.name in names else len(names), folder.name)


def _check(folder: Path, quick: bool, single: bool) -> tuple[str, str]:
    """(files listed, "ok" or "FAIL: …") for a folder with a manifest; damaged files go to stderr.
    A corrupt manifest fails its folder in a run's table, or is the one-line error of a ``single`` check."""
    from gptkit.io.manifest import read_manifest
    from gptkit.io.manifest import verify as verify_dir

    try:
        files = len(read_manifest(folder).get("outputs", []))
        problems = verify_dir(folder, check_hashes=not quick)
    except InputError as e:  # a corrupt manifest fails this folder, not the whole run's check
        if single:
            raise
        return "", f"FAIL: {e}"
    for p in problems:
        err.print(f"[red]FAIL[/] {folder / p.path}: {p.reason}", markup=True, highlight=False)
    return f"{files:,}", f"FAIL: {len(problems)} damaged" if problems else ("ok (sizes)" if quick else "ok")
