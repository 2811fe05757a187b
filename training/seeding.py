"""Seeds derived from the run seed, so every random draw is a pure function of
``(seed, stream, rank, step)`` and a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

import random

import numpy as np
import torch

# Stream identifiers keep independent uses of one run seed from drawing correlated numbers.
STREAM_STEP = 1     # global RNGs during one optimiser step (dropout, masking, augmentation)
STREAM_DATA = 2     # on-the-fly batch generation
STREAM_EPOCH = 3    # dataset shuffling (shared by all ranks)


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from non-negative integer keys (``numpy.random.SeedSequence``).

    Different key tuples give statistically independent seeds; the same tuple always gives
    the same seed.
    """
    if not keys or any(int(k) != k or k < 0 for k in keys):
        raise ValueError(f"seed keys must be non-negative integers, got {keys!r}")
    word = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, np.uint64)[0]
    return int(word) >> 1


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_step(seed: int, rank: int, step: int) -> None:
    """Seed the global RNGs for optimiser step ``step`` (0-based) of process ``rank``.

    Called at the start of every step, it makes training-time randomness independent of what
    happened before, so resuming needs no saved RNG state, while ranks still draw differently.
    """
    seed_everything(derive_seed(seed, STREAM_STEP, rank, step))
