"""Learning-rate schedule: linear warm-up, then cosine decay to a floor.

The learning rate is a pure function of the step, so the schedule has no state to checkpoint.
"""
from __future__ import annotations

import math

import torch


def warmup_cosine(step: int, *, base_lr: float, warmup_steps: int, total_steps: int,
                  min_lr_ratio: float) -> float:
    """Learning rate of optimiser step ``step`` (0-based).

    Warm-up: ``base_lr · (step + 1) / warmup_steps`` for ``step < warmup_steps`` (so the last
    warm-up step reaches ``base_lr``). Then a half cosine from ``base_lr`` at ``warmup_steps`` to
    ``base_lr · min_lr_ratio`` at the last step ``total_steps − 1``.

    Raises:
        ValueError: ``step`` outside ``[0, total_steps)`` or inconsistent arguments.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps}, "
                         f"{total_steps}")
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} outside [0, {total_steps})")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    decay_steps = total_steps - 1 - warmup_steps
    progress = (step - warmup_steps) / decay_steps if decay_steps > 0 else 0.0
    floor = base_lr * min_lr_ratio
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
