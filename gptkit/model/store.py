"""Saving and loading models together with their tokenizer.

A model directory holds::

    model.safetensors    weights (tied output layer stored once, as transformer.wte.weight)
    model_config.json    {"format": "gptkit-model", "version": 1, "config": {...GPTConfig}, "tokenizer_hash": ...}
    tokenizer/           the tokenizer the model was trained with (tokenizer.json, vocab.json, merges.txt)

:func:`load_model` also accepts a training run directory (it follows ``RUN/latest``, or
``RUN/best``) and a transformers GPT-2 directory (``config.json`` + safetensors or
``pytorch_model.bin``). Nothing is unpickled: weights are read with safetensors, or
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file

from gptkit.config import build
from gptkit.errors import ConfigError, InputError, UsageError
from gptkit.io.atomic import atomic_path, atomic_write_json
from gptkit.io.json_files import read_json
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.hf import load_hf_model
from gptkit.model.weights import WEIGHTS_FILE, load_weights, model_state, read_weights, unwrap

CONFIG_FILE = "model_config.json"
TOKENIZER_DIR = "tokenizer"
FORMAT = "gptkit-model"
FORMAT_VERSION = 1


def save_model(
    out_dir: str | Path,
    model: torch.nn.Module,
    tokenizer: Any = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` (and a copy of ``tokenizer``: a tokenizer object or anything
    ``load_tokenizer`` reads) to ``out_dir``; each file is written atomically.

    ``state_dict`` (from :func:`model_state`) saves weights gathered elsewhere, e.g. on rank 0.
    """
    out_dir = Path(out_dir)
    gpt = unwrap(model)
    tok = _as_tokenizer(tokenizer)
    if tok is not None and tok.vocab_size != gpt.config.vocab_size:
        raise UsageError(
            f"tokenizer has {tok.vocab_size} ids but the model's vocab_size is {gpt.config.vocab_size}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    state = state_dict if state_dict is not None else model_state(gpt)
    with atomic_path(out_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    if tok is not None:
        tok.save(out_dir / TOKENIZER_DIR)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": gpt.config.to_dict(),
        "tokenizer_hash": tok.hash if tok is not None else None,
        "num_params": gpt.num_params(non_embedding=False),
    }
    atomic_write_json(out_dir / CONFIG_FILE, meta)
    return out_dir


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    which: Literal["latest", "best"] = "latest",
    dtype: torch.dtype | None = None,
) -> tuple[GPT, Any]:
    """``(model, tokenizer)`` from a model/checkpoint dir, a run dir (its ``latest`` or ``best``
    checkpoint) or a transformers GPT-2 dir. The model is in eval mode; ``tokenizer`` is None
    when the directory has none."""
    model_dir = resolve_model_dir(path, which)
    if not (model_dir / CONFIG_FILE).is_file():
        model, tok = load_hf_model(model_dir)
    else:
        meta = read_model_meta(model_dir)
        model = GPT(read_model_config(model_dir))
        load_weights(model, read_weights(model_dir / WEIGHTS_FILE), model_dir / WEIGHTS_FILE)
        tok = _load_tokenizer_dir(model_dir / TOKENIZER_DIR)
        recorded = meta.get("tokenizer_hash")
        if tok is not None and recorded and tok.hash != recorded:
            raise InputError(
                f"tokenizer differs from the one the model was saved with (hash {tok.hash} != {recorded})",
                model_dir / TOKENIZER_DIR,
            )
    model.to(device=device, dtype=dtype)
    model.eval()
    return model, tok


def resolve_model_dir(path: str | Path, which: Literal["latest", "best"] = "latest") -> Path:
    """The directory that holds the weights: ``path`` itself, or a run dir's chosen checkpoint."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such model directory", path)
    if not path.is_dir():
        raise InputError(
            "expected a model directory (model_config.json + model.safetensors), got a file", path
        )
    if (path / CONFIG_FILE).is_file() or (path / "config.json").is_file():
        return path
    pointer = path / which
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8", errors="replace").strip()
        candidate = path / "checkpoints" / name
        if name and is_checkpoint_name(name) and (candidate / CONFIG_FILE).is_file():
            return candidate
        raise InputError(f"'{which}' names checkpoint {name!r}, which is missing or incomplete", pointer)
    raise InputError(
        f"not a model directory: no {CONFIG_FILE} (gptkit), config.json (transformers) or '{which}' (training run)",
        path,
    )


def is_checkpoint_name(name: str) -> bool:
    """A plain directory name (what ``latest``/``best`` may hold), or empty."""
    return name == "" or ("/" not in name and "\\" not in name and name not in (".", ".."))


def read_model_config(model_dir: str | Path) -> GPTConfig:
    """The :class:`GPTConfig` in ``model_dir/model_config.json``; malformed files are InputErrors."""
    path = Path(model_dir) / CONFIG_FILE
    try:
        meta = read_json(path, "corrupt model config")
    except FileNotFoundError:
        raise InputError("missing", path) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("config"), dict):
        raise InputError(
            f'not a gptkit model config (expected "format": "{FORMAT}" and a "config" table)', path
        )
    if meta.get("version", 0) > FORMAT_VERSION:
        raise InputError(f"model format version {meta['version']} is newer than this gptkit supports", path)
    try:
        return build(GPTConfig, meta["config"], "config")
    except ConfigError as e:
        raise InputError(str(e), path) from None


def read_model_meta(model_dir: str | Path) -> dict[str, Any]:
    """The whole ``model_config.json`` (config, tokenizer hash, parameter count)."""
    read_model_config(model_dir)  # validates
    return json.loads((Path(model_dir) / CONFIG_FILE).read_text(encoding="utf-8"))


def _as_tokenizer(tokenizer: Any) -> Any:
    if tokenizer is None or hasattr(tokenizer, "encode"):
        return tokenizer
    from gptkit.tokenizer import load_tokenizer

    return load_tokenizer(tokenizer)


def _load_tokenizer_dir(path: Path) -> Any:
    if not path.is_dir():
        return None
    from gptkit.tokenizer import load_tokenizer

    return load_tokenizer(path)


