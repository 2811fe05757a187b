"""Seeded, resumable, rank-aware batch streams for recipes' ``build_data``.

Two shapes of data cover the recipes:

* generated on the fly (the synthetic scene engine): :func:`seeded_batches` calls a batch
  factory with a seed that depends only on ``(run seed, rank, step)``, so ranks see different
  batches and resuming at step ``k`` costs nothing;
* a finite map-style dataset (rendered shards, real photos): :class:`ShuffledBatchSampler`
  yields index batches from per-epoch shuffles shared by all ranks and split disjointly between
  them; pass it as ``batch_sampler`` to a ``torch.utils.data.DataLoader``.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .seeding import STREAM_DATA, STREAM_EPOCH, derive_seed


def seeded_batches(make_batch: Callable[[int], Any], *, seed: int, rank: int,
                   start_step: int = 0) -> Iterator[Any]:
    """Endless stream ``make_batch(s_k)`` for steps ``k = start_step, start_step + 1, …``.

    Args:
        make_batch: builds one batch from an integer seed (it should create its own
            ``torch.Generator`` / ``numpy.random.default_rng`` from it, not use global RNGs).
        seed: the run seed (``cfg.seed``).
        rank: this process's rank; each rank gets an independent stream.
        start_step: number of batches this rank has already consumed (resume point).
    """
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")
    for step in itertools.count(start_step):
        yield make_batch(derive_seed(seed, STREAM_DATA, rank, step))


class ShuffledBatchSampler:
    """Endless batches of dataset indices, reshuffled each epoch, disjoint between ranks.

    Epoch ``e`` permutes ``range(num_items)`` with a seed from ``(seed, e)`` (the same on every
    rank); rank ``r`` takes every ``world_size``-th index starting at ``r``, trimmed so all ranks
    hold ``num_items // world_size`` indices, and cuts them into full batches (the remainder is
    dropped). Iteration starts ``start_step`` batches in, without drawing the skipped ones.
    """

    def __init__(self, num_items: int, batch_size: int, *, rank: int, world_size: int,
                 seed: int, start_step: int = 0) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, "
                             f"world_size={world_size}")
        if batch_size < 1 or start_step < 0:
            raise ValueError(f"need batch_size >= 1 and start_step >= 0, got {batch_size}, "
                             f"{start_step}")
        per_rank = num_items // world_size
        if per_rank < batch_size:
            raise ValueError(f"{num_items} items split over {world_size} processes leave "
                             f"{per_rank} per process, fewer than one batch of {batch_size}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.start_step = start_step
        self.batches_per_epoch = per_rank // batch_size

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's indices of epoch ``epoch``, in order, ``batches_per_epoch × batch_size``
        of them."""
        generator = torch.Generator().manual_seed(derive_seed(self.seed, STREAM_EPOCH, epoch))
        order = torch.randperm(self.num_items, generator=generator)
        mine = order[self.rank::self.world_size].tolist()
        return mine[:self.batches_per_epoch * self.batch_size]

    def __iter__(self) -> Iterator[list[int]]:
        epoch, skip = divmod(self.start_step, self.batches_per_epoch)
        while True:
            indices = self.epoch_indices(epoch)
            for b in range(skip, self.batches_per_epoch):
                yield indices[b * self.batch_size:(b + 1) * self.batch_size]
            epoch, skip = epoch + 1, 0


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a batch (nested dicts, lists, tuples) to ``device``; other values
    are returned unchanged."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(to_device(value, device) for value in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch
