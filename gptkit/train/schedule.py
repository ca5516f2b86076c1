"""Learning-rate schedules as pure functions of the step (so a resumed run gets the same lr)."""

from __future__ import annotations

import math

from gptkit.train.config import ScheduleSection


def lr_at(step: int, base_lr: float, total_steps: int, cfg: ScheduleSection) -> float:
    """Learning rate of optimizer step ``step`` (0-based) of a ``total_steps`` run.

    Warmup rises linearly to ``base_lr`` over ``cfg.warmup_steps`` steps; then ``cosine`` decays
    to ``min_lr_ratio·base_lr`` at the last step, ``wsd`` holds ``base_lr`` and decays (linearly, or
    as 1-sqrt: fast at first, the shape Hägele et al. found best) over the last ``decay_frac`` of the
    run, ``constant`` holds ``base_lr``.
    """
    min_lr = base_lr * cfg.min_lr_ratio
    warmup = min(cfg.warmup_steps, total_steps)
    if step < warmup:
        return base_lr * (step + 1) / (warmup + 1)
    if cfg.kind == "constant":
        return base_lr
    last = max(total_steps - 1, 1)
    if cfg.kind == "cosine":
        span = max(last - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (base_lr - min_lr)
    decay_start = wsd_decay_start(total_steps, cfg)
    if step < decay_start:
        return base_lr
    progress = min((step - decay_start + 1) / max(total_steps - decay_start, 1), 1.0)
    remaining = 1 - (math.sqrt(progress) if cfg.decay_shape == "1-sqrt" else progress)
    return min_lr + remaining * (base_lr - min_lr)


def wsd_decay_start(total_steps: int, cfg: ScheduleSection) -> int:
    """The first step of a wsd run's decay: where a cooldown branch forks off a constant-lr run."""
    warmup = min(cfg.warmup_steps, total_steps)
    decay_steps = max(round(cfg.decay_frac * total_steps), 1)
    return max(total_steps - decay_steps, warmup)
