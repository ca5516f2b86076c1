"""Conversion to and from transformers model directories, without importing transformers.

GPT-2 models map to ``GPT2LMHeadModel`` and GPT-1 models to ``OpenAIGPTLMHeadModel``. Both
keep their linear layers in ``Conv1D`` modules, whose weights are stored transposed
(``(in, out)``) relative to ``nn.Linear``; the names are otherwise gptkit's (nanoGPT's). The
exported ``config.json``, ``model.safetensors`` and tokenizer files load offline with
``from_pretrained`` / ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors.torch import save_file

from gptkit.chat.template import stop_ids_of
from gptkit.errors import InputError
from gptkit.io.atomic import atomic_path, atomic_write_json, atomic_write_text
from gptkit.io.json_files import read_json
from gptkit.model.gpt import GPT, GPTConfig
from gptkit.model.weights import load_weights, read_weights

#: Linear layers that transformers stores as Conv1D (weight transposed).
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
#: gptkit name of the embeddings → transformers name, per model type.
EMBEDDINGS = {
    "gpt2": {
        "transformer.wte.weight": "transformer.wte.weight",
        "transformer.wpe.weight": "transformer.wpe.weight",
    },
    "openai-gpt": {
        "transformer.wte.weight": "transformer.tokens_embed.weight",
        "transformer.wpe.weight": "transformer.positions_embed.weight",
    },
}
MODEL_TYPE = {"gpt2": "gpt2", "gpt1": "openai-gpt"}
ARCHITECTURE = {"gpt2": "GPT2LMHeadModel", "openai-gpt": "OpenAIGPTLMHeadModel"}
#: transformers activation names that equal gptkit's GELU (tanh approximation).
TANH_GELU = {"gpt2": ("gelu_new", "gelu_pytorch_tanh"), "openai-gpt": ("gelu",)}
#: transformers buffers that are not weights.
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")


def hf_config(config: GPTConfig, eot_id: int | None) -> dict[str, Any]:
    """The transformers ``config.json`` for a gptkit model."""
    model_type = MODEL_TYPE[config.arch]
    common = {
        "architectures": [ARCHITECTURE[model_type]],
        "model_type": model_type,
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "layer_norm_epsilon": config.layer_norm_eps,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }
    if model_type == "openai-gpt":
        return {**common, "afn": "gelu"}
    return {
        **common,
        "n_ctx": config.block_size,
        "n_inner": None,
        "activation_function": "gelu_new",
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "use_cache": True,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
    }


def to_hf_state(model: GPT) -> dict[str, torch.Tensor]:
    """gptkit weights under transformers names: Conv1D weights transposed, vocabulary padding
    removed, the tied output layer left out, zero biases added to a ``bias=False`` model."""
    config = model.config
    names = EMBEDDINGS[MODEL_TYPE[config.arch]]
    state = {}
    for key, t in model.state_dict().items():
        if key == "lm_head.weight":
            continue
        t = t.detach().to("cpu", torch.float32)
        if key == "transformer.wte.weight":
            t = t[: config.vocab_size]
        if key.endswith(CONV1D):
            t = t.t()
        state[names.get(key, key)] = t.contiguous()
    if not config.bias:  # transformers' GPT-2 always has biases: zeros give the same function
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear | nn.LayerNorm) and name != "lm_head" and module.bias is None:
                size = module.out_features if isinstance(module, nn.Linear) else module.normalized_shape[0]
                state[f"{name}.bias"] = torch.zeros(size)
    return state


def export_hf(model: GPT, tokenizer: Any, out_dir: str | Path, card: str | None = None) -> Path:
    """Write a transformers model directory for ``model`` (and its tokenizer, if any), with
    ``card`` as its README.md (see :func:`gptkit.model.card.model_card`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.safetensors") as tmp:
        save_file(to_hf_state(model), str(tmp), metadata={"format": "pt"})
    eot = tokenizer.eot_id if tokenizer is not None else None
    atomic_write_json(out_dir / "config.json", hf_config(model.config, eot))
    if model.config.arch == "gpt2":
        eos = stop_ids_of(tokenizer) if tokenizer is not None else [None]  # a chat model stops at its end of turn
        generation = {"bos_token_id": eot, "eos_token_id": eos[0] if len(eos) == 1 else eos, "do_sample": True}
        atomic_write_json(out_dir / "generation_config.json", generation)
    if tokenizer is not None:
        _write_tokenizer_files(tokenizer, out_dir, model.config.block_size)
    if card is not None:
        atomic_write_text(out_dir / "README.md", card)
    return out_dir


def _write_tokenizer_files(tokenizer: Any, out_dir: Path, max_length: int) -> None:
    """The tokenizer's own transformers-loadable files, with the model's context as max length."""
    tokenizer.save(out_dir)
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    atomic_write_json(config_path, {**config, "model_max_length": max_length})


def load_hf_model(hf_dir: str | Path) -> tuple[GPT, Any]:
    """A gptkit model (and tokenizer, when the directory has one) from a transformers GPT-2/GPT-1 dir."""
    hf_dir = Path(hf_dir)
    config_path = hf_dir / "config.json"
    try:
        hf = read_json(config_path, "corrupt config.json")
    except FileNotFoundError:
        raise InputError("missing config.json", hf_dir) from None
    config = gptkit_config(hf, config_path)
    model = GPT(config)
    load_weights(model, from_hf_state(read_hf_weights(hf_dir), hf["model_type"], config), hf_dir)
    return model, _hf_tokenizer(hf_dir)


def gptkit_config(hf: dict[str, Any], source: Path) -> GPTConfig:
    """The :class:`GPTConfig` of a transformers ``config.json``; other architectures are refused."""
    model_type = hf.get("model_type")
    if model_type not in TANH_GELU:
        raise InputError(
            f"unsupported model_type {model_type!r}: gptkit imports 'gpt2' and 'openai-gpt' models", source
        )
    act = hf.get("activation_function" if model_type == "gpt2" else "afn", TANH_GELU[model_type][0])
    if act not in TANH_GELU[model_type]:
        raise InputError(f"unsupported activation {act!r} (gptkit uses the tanh GELU)", source)
    n_embd = hf.get("n_embd", 768)
    if hf.get("n_inner") not in (None, 4 * n_embd):
        raise InputError(f"unsupported n_inner {hf['n_inner']} (gptkit uses 4 * n_embd)", source)
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if hf.get(flag):
            raise InputError(f"unsupported option {flag}=true", source)
    if hf.get("scale_attn_weights") is False:
        raise InputError("unsupported option scale_attn_weights=false", source)
    try:
        return GPTConfig(
            arch="gpt2" if model_type == "gpt2" else "gpt1",
            n_layer=hf.get("n_layer", 12),
            n_head=hf.get("n_head", 12),
            n_embd=n_embd,
            block_size=hf.get("n_positions", 1024 if model_type == "gpt2" else 512),
            vocab_size=hf.get("vocab_size", 50257 if model_type == "gpt2" else 40478),
            layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
            dropout=hf.get("resid_pdrop", 0.1),
            bias=True,
        )
    except (TypeError, ValueError) as e:
        raise InputError(f"invalid model shape: {e}", source) from None


def dropout_note(hf: dict[str, Any]) -> str | None:
    """What the import changed about dropout: gptkit has one rate where transformers has three."""
    rates = {key: hf.get(key, 0.1) for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    if len(set(rates.values())) == 1:
        return None
    given = ", ".join(f"{key} {rate}" for key, rate in rates.items())
    return f"gptkit uses one dropout rate: kept resid_pdrop {rates['resid_pdrop']} for all three ({given})"


def read_hf_weights(hf_dir: Path) -> dict[str, torch.Tensor]:
    """Tensors of ``model.safetensors`` (single or sharded) or ``pytorch_model.bin`` (weights only)."""
    if (hf_dir / "model.safetensors").is_file():
        return read_weights(hf_dir / "model.safetensors")
    index = hf_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError, UnicodeDecodeError) as e:
            raise InputError(f"corrupt safetensors index: {e}", index) from None
        state: dict[str, torch.Tensor] = {}
        for name in files:
            state.update(read_weights(hf_dir / name))
        return state
    if (hf_dir / "pytorch_model.bin").is_file():
        return read_weights(hf_dir / "pytorch_model.bin")
    raise InputError("no weights (model.safetensors or pytorch_model.bin)", hf_dir)


def from_hf_state(
    state: dict[str, torch.Tensor], model_type: str, config: GPTConfig
) -> dict[str, torch.Tensor]:
    """transformers weights under gptkit names: Conv1D transposed back, vocabulary padded."""
    to_gptkit = {hf: ours for ours, hf in EMBEDDINGS[model_type].items()}
    out = {}
    for key, t in state.items():
        if key.endswith(IGNORED_SUFFIXES) or key == "lm_head.weight":
            continue
        if not key.startswith(("transformer.", "lm_head.")):  # GPT2Model checkpoints (no LM head prefix)
            key = "transformer." + key
        key = to_gptkit.get(key, key)
        t = t.to(torch.float32)
        if key.endswith(CONV1D):
            t = t.t()
        if key == "transformer.wte.weight" and t.shape[0] == config.vocab_size:
            t = torch.cat([t, torch.zeros(config.padded_vocab_size - t.shape[0], t.shape[1])])
        out[key] = t.contiguous()
    return out


def _hf_tokenizer(hf_dir: Path) -> Any:
    if not any((hf_dir / name).is_file() for name in ("tokenizer.json", "vocab.json", "encoder.json")):
        return None
    from gptkit.tokenizer import load_tokenizer

    return load_tokenizer(hf_dir)
