"""Columnar document inputs: parquet files (FineWeb, Dolma, most HF datasets) and ``datasets``
folders (``save_to_disk`` output), read a record batch at a time, one row per document.

Rows come out as dicts like JSON lines do, so every document-reading stage treats them alike
(see :func:`gptkit.io.shards.iter_records`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from gptkit.errors import InputError

PARQUET_SUFFIX = ".parquet"
#: The shards of a ``datasets`` folder (Arrow IPC streams).
ARROW_SUFFIX = ".arrow"
BATCH_ROWS = 1024


def is_table(path: str | Path) -> bool:
    return str(path).lower().endswith((PARQUET_SUFFIX, ARROW_SUFFIX))


def iter_table_rows(path: str | Path, text_key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 1, row)`` of a parquet or Arrow file, streamed a record batch at a time.

    A file without a ``text_key`` column, or that is not parquet/Arrow, is an InputError."""
    path = Path(path)
    batches = _parquet_batches(path) if path.name.lower().endswith(PARQUET_SUFFIX) else _arrow_batches(path)
    row = 0
    for batch in batches:
        if text_key not in batch.schema.names:
            raise InputError(
                f"no column '{text_key}' (columns: {', '.join(batch.schema.names)}); pass --text-key", path
            )
        for record in batch.to_pylist():
            row += 1
            yield row, {key: _jsonable(value) for key, value in record.items()}


def dataset_folder_files(folder: Path) -> list[Path] | None:
    """The Arrow shards of a ``datasets`` ``save_to_disk`` folder in order (every split of a
    DatasetDict, in its own order), or None when ``folder`` is not one."""
    if (folder / "dataset_dict.json").is_file():
        splits = _read_json(folder / "dataset_dict.json").get("splits", [])
        return [f for split in splits for f in dataset_folder_files(folder / split) or []]
    if not (folder / "state.json").is_file():
        return None
    files = _read_json(folder / "state.json").get("_data_files", [])
    return [folder / entry["filename"] for entry in files if isinstance(entry, dict) and "filename" in entry]


def _parquet_batches(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable parquet file: {e}", path) from None


def _arrow_batches(path: Path):
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            yield from pa.ipc.open_stream(source)
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"not a readable Arrow file (a datasets shard): {e}", path) from None


def _jsonable(value: Any) -> Any:
    """A value the shard writer can store: timestamps as ISO text, bytes and the rest as str."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"corrupt datasets folder file: {e}", path) from None
    if not isinstance(data, dict):
        raise InputError("corrupt datasets folder file (expected a JSON object)", path)
    return data
