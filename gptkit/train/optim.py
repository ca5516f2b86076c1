"""AdamW with weight decay on matrices and embeddings only (GPT-2/nanoGPT practice)."""

from __future__ import annotations

import torch

from gptkit.train.config import OptimSection


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: ≥2-D weights (decayed) and biases/LayerNorm gains (not decayed).

    Tied weights appear once (``named_parameters`` deduplicates shared tensors).
    """
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def build_optimizer(model: torch.nn.Module, cfg: OptimSection, device_type: str) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups`; fused kernels on CUDA and CPU unless ``cfg.fused`` says
    otherwise (on CPU one pass over each parameter instead of foreach's dozen: several times
    faster, a sizeable part of a small model's step)."""
    fused = device_type in ("cuda", "cpu") if cfg.fused is None else cfg.fused
    return torch.optim.AdamW(
        param_groups(model, cfg.weight_decay),
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=fused or None,
    )


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
