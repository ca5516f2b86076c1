"""The ``export`` and ``import`` stages: a gptkit model ⇄ a transformers model directory.

Both go through the stage runner like every other stage: a rerun with the same model files is
reused, a folder of another stage is refused, and the manifest lists what was written. The
conversions themselves live in :mod:`gptkit.model.hf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gptkit.errors import InputError
from gptkit.io.manifest import MANIFEST, Manifest, file_record
from gptkit.stage import STAGE_FILE, StageResult, StageRun, check_inputs


@dataclass
class ExportConfig:
    """The ``[export]`` table of a recipe (``gptkit export --recipe``)."""

    out: Path | None = None  # the transformers directory to write
    format: Literal["hf"] = "hf"
    which: Literal["latest", "best"] = "latest"  # checkpoint of a training run dir


@dataclass
class ImportConfig:
    """The ``[import]`` table of a recipe (``gptkit import --recipe``)."""

    out: Path | None = None  # the gptkit model directory to write


@dataclass
class ConvertResult(StageResult):
    """Where the converted model went; ``model`` and ``tokenizer`` are None when it was reused."""

    out: Path
    model: Any = None
    tokenizer: Any = None
    note: str | None = None  # what the conversion could not keep as it was


def export_model(model_path: str | Path, out_dir: str | Path, fmt: str = "hf",
                 which: Literal["latest", "best"] = "latest") -> ConvertResult:  # fmt: skip
    """Write the model (a run's ``which`` checkpoint) as a transformers directory in ``out_dir``."""
    from gptkit.model.card import model_card
    from gptkit.model.hf import export_hf
    from gptkit.model.store import load_model, resolve_model_dir

    check_inputs([model_path], partial_ok=("train",))
    source = resolve_model_dir(model_path, which)
    run = StageRun("export", Path(out_dir), {"format": fmt}, model_files(source))
    if run.reuse() is not None:
        return ConvertResult(run.out, reused=True)
    model, tok = load_model(source, device="cpu", which=which)
    run.begin()
    export_hf(model, tok, run.out, card=model_card(model, tok, source))
    _finish(run, {"format": fmt})
    return ConvertResult(run.out, model, tok)


def import_model(hf_dir: str | Path, out_dir: str | Path) -> ConvertResult:
    """Convert a transformers GPT-2/GPT-1 directory into a gptkit model directory ``out_dir``."""
    from gptkit.io.json_files import read_json
    from gptkit.model.hf import dropout_note, load_hf_model
    from gptkit.model.store import save_model

    hf_dir = Path(hf_dir)
    if not (hf_dir / "config.json").is_file():
        raise InputError("not a transformers model directory (no config.json)", hf_dir)
    check_inputs([hf_dir])
    run = StageRun("import", Path(out_dir), {}, model_files(hf_dir))
    if run.reuse() is not None:
        return ConvertResult(run.out, reused=True)
    model, tok = load_hf_model(hf_dir)
    run.begin()
    save_model(run.out, model, tok)
    _finish(run, {})
    note = dropout_note(read_json(hf_dir / "config.json", "corrupt config.json"))
    return ConvertResult(run.out, model, tok, note)


def model_files(model_dir: Path) -> list[dict]:
    """The model's own files (a checkpoint's optimizer state and run files are not read)."""
    from gptkit.model.store import CONFIG_FILE, TOKENIZER_DIR, WEIGHTS_FILE

    if (model_dir / CONFIG_FILE).is_file():
        files = [model_dir / WEIGHTS_FILE, model_dir / CONFIG_FILE, *sorted((model_dir / TOKENIZER_DIR).rglob("*"))]
    else:
        files = sorted(model_dir.rglob("*"))
    return [file_record(p, model_dir) for p in files if p.is_file() and p.name not in (MANIFEST, STAGE_FILE)]


def _finish(run: StageRun, config: dict) -> None:
    written = sorted(p for p in run.out.rglob("*") if p.is_file() and p.name not in (MANIFEST, STAGE_FILE))
    run.finish(Manifest(stage=run.stage, config=config, inputs=run.inputs,
                        outputs=[file_record(p, run.out) for p in written]))  # fmt: skip
