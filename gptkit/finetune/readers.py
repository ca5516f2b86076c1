"""Readers for the files fine-tuning data comes in; each yields ``(line, fields)`` rows.

- GLUE TSVs: split on tabs with no quote handling (several files hold unmatched ``"``, and
  CSV quoting would merge rows), ``utf-8-sig`` for MRPC's BOM, with or without a header.
- SNLI in the line-aligned ``s1.SPLIT`` / ``s2.SPLIT`` / ``labels.SPLIT`` layout.
- Story Cloze 2016 CSVs (RFC-4180 quoting, so :mod:`csv`).
- RACE folders: one JSON file per passage under ``SPLIT/{middle,high}/``.
- Any task as jsonl, parquet or a ``datasets`` folder (``save_to_disk``) with named columns.

A row's ``line`` is its 1-based line in the file (row number for parquet and ``datasets``), so
every error can name the file and line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from gptkit.errors import InputError

TABLE_SUFFIXES = (".jsonl", ".parquet")


def read_tsv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Tab-separated fields of each non-empty line (``\\r\\n`` or ``\\n``, optional BOM)."""
    with _open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield line_no, line.split("\t")


def read_csv(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Rows of an RFC-4180 CSV file; ``line`` is where the row starts."""
    with _open_text(path, newline="") as f:
        reader = csv.reader(f)
        start = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield start, row
                start = reader.line_num + 1
        except csv.Error as e:
            raise InputError(f"malformed CSV: {e}", path, reader.line_num) from None


def read_lines(path: Path) -> list[str]:
    """The lines of a text file without their line ends (SNLI's aligned files)."""
    with _open_text(path) as f:
        return [line.rstrip("\r\n") for line in f]


def read_json_file(path: Path) -> Any:
    try:
        with _open_text(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path, e.lineno) from None


def table_path(data_dir: Path, split: str) -> Path | None:
    """``SPLIT.jsonl``, ``SPLIT.parquet`` or a ``datasets`` folder ``SPLIT/`` in ``data_dir``."""
    for suffix in TABLE_SUFFIXES:
        if (data_dir / f"{split}{suffix}").is_file():
            return data_dir / f"{split}{suffix}"
    folder = data_dir / split
    if (folder / "dataset_info.json").is_file() or (folder / "dataset_dict.json").is_file():
        return folder
    return None


def read_table(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Records of a jsonl file, a parquet file or a ``datasets`` folder."""
    if path.suffix == ".jsonl":
        yield from _read_jsonl(path)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as e:  # pyarrow raises several types for a corrupt file
            raise InputError(f"cannot read parquet: {e}", path) from None
        yield from enumerate(rows, 1)
    else:
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as e:
            raise InputError(f"cannot read datasets folder: {e}", path) from None
        if isinstance(ds, datasets.DatasetDict):
            raise InputError(f"a DatasetDict ({', '.join(ds)}); save each split as its own folder", path)
        yield from enumerate(ds, 1)


def _read_jsonl(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    with _open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON: {e.msg}", path, line_no) from None
            if not isinstance(record, dict):
                raise InputError(f"expected a JSON object, got {type(record).__name__}", path, line_no)
            yield line_no, record


@contextmanager
def _open_text(path: Path, newline: str | None = None) -> Iterator[TextIO]:
    """The file as UTF-8 text (a BOM is dropped); a missing file or bytes that are not UTF-8,
    met while reading, become an InputError naming the file."""
    try:
        with path.open(encoding="utf-8-sig", newline=newline) as f:
            yield f
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text ({e.reason} at byte {e.start} of a read block)", path) from None
