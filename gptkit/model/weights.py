"""Model weights: reading safetensors / plain state dicts and copying them into a :class:`GPT`.

Nothing is unpickled: ``.bin``/``.pt`` files are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from gptkit.errors import InputError
from gptkit.model.gpt import GPT

WEIGHTS_FILE = "model.safetensors"
#: Stored once: the output layer shares the token embedding's weight.
TIED_KEY = "lm_head.weight"


def unwrap(model: torch.nn.Module) -> GPT:
    """The :class:`GPT` inside a ``torch.compile`` / DDP wrapper."""
    while not isinstance(model, GPT):
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None:
            raise TypeError(f"not a gptkit GPT model: {type(model).__name__}")
        model = inner
    return model


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights to save: contiguous CPU tensors, tied output layer left out.

    Sharded (FSDP2 DTensor) parameters are gathered, so call this on every rank.
    """
    return gathered_state(unwrap(model), skip={TIED_KEY})


def gathered_state(module: torch.nn.Module, skip: set[str] = frozenset()) -> dict[str, torch.Tensor]:
    """``module``'s state dict as contiguous CPU tensors, FSDP2 shards gathered (call it on every rank)."""
    state = {}
    for key, t in module.state_dict().items():
        if key in skip:
            continue
        if hasattr(t, "full_tensor"):  # DTensor
            t = t.full_tensor()
        state[key] = t.detach().to("cpu").contiguous()
    return state


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a safetensors file, or a ``.bin``/``.pt`` state dict loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("missing weights file", path)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as e:
        raise InputError(f"corrupt or unreadable weights file: {_first_line(e)}", path) from None
    except Exception as e:  # torch.load's pickle errors (UnpicklingError, ...)
        raise InputError(
            f"not a plain tensor state dict (refusing to unpickle objects): {_first_line(e)}", path
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("not a state dict of tensors", path)
    return state


def load_weights(model: GPT, state: dict[str, torch.Tensor], source: str | Path) -> None:
    """Copy ``state`` into ``model``; a different architecture or shape is an InputError naming it."""
    expected = {k: v for k, v in model.state_dict().items() if k != TIED_KEY}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected) - {TIED_KEY})
    if missing or unexpected:
        what = [
            f"missing {_preview(missing)}" if missing else "",
            f"unexpected {_preview(unexpected)}" if unexpected else "",
        ]
        raise InputError(
            f"weights do not match the model's architecture ({'; '.join(w for w in what if w)})", source
        )
    for key, t in expected.items():
        if state[key].shape != t.shape:
            raise InputError(
                f"weights do not match the model's architecture: {key} has shape {tuple(state[key].shape)}, "
                f"the config needs {tuple(t.shape)}",
                source,
            )
    with torch.no_grad():
        for key, t in expected.items():
            t.copy_(state[key])


def _preview(keys: list[str], n: int = 3) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
