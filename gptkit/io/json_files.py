"""Reading the JSON files stages write (manifests, checkpoint state, model configs) and users give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gptkit.errors import InputError


def read_json(path: str | Path, corrupt: str) -> Any:
    """The JSON value in ``path``; text that is not UTF-8 JSON is an :class:`InputError`
    ``"{corrupt}: {why}"`` naming the file. A missing file raises ``FileNotFoundError``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{corrupt}: {e}", path) from None
