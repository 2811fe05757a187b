"""Distributed data parallel plumbing: the process group from ``torchrun``'s environment, rank
helpers, cross-rank averaging and a replica-consistency check.

The same command runs single-process (no ``WORLD_SIZE`` in the environment) or under
``torchrun --nproc_per_node=N`` (which sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``): gloo joins CPU processes, NCCL joins GPU processes, each on
the GPU of its ``LOCAL_RANK``.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job.

    Attributes:
        rank: global rank in ``[0, world_size)``; rank 0 logs and writes files.
        local_rank: rank on this machine (selects the GPU).
        world_size: number of processes (1 without ``torchrun``).
        device: the device this process trains on.
    """

    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on the process that logs, checkpoints and writes the weights."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def launch_ranks(environ: Mapping[str, str] = os.environ) -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from torchrun's variables; ``(0, 0, 1)`` without them.

    Raises:
        ValueError: ``WORLD_SIZE`` > 1 without ``RANK``/``LOCAL_RANK``, or values out of range.
    """
    if "WORLD_SIZE" not in environ:
        return 0, 0, 1
    try:
        world_size = int(environ["WORLD_SIZE"])
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ValueError("WORLD_SIZE, RANK and LOCAL_RANK must be integers, got "
                         f"{[environ.get(k) for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK')]}"
                         ) from None
    if world_size > 1 and not {"RANK", "LOCAL_RANK"} <= set(environ):
        raise ValueError(f"WORLD_SIZE={world_size} but RANK or LOCAL_RANK is not set; launch "
                         "with torchrun (python -m torch.distributed.run)")
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(f"inconsistent launch variables: RANK={rank}, LOCAL_RANK={local_rank}, "
                         f"WORLD_SIZE={world_size}")
    return rank, local_rank, world_size


def resolve_device(preference: str, local_rank: int) -> torch.device:
    """The device for ``preference`` (``auto`` | ``cpu`` | ``cuda``) on local rank ``local_rank``.

    Raises:
        ValueError: CUDA requested but unavailable, or fewer GPUs than local processes.
    """
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {preference!r}")
    cuda = torch.cuda.is_available()
    if preference == "cpu" or (preference == "auto" and not cuda):
        return torch.device("cpu")
    if not cuda:
        raise ValueError("device=cuda but torch sees no CUDA GPU")
    if local_rank >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} GPUs")
    return torch.device("cuda", local_rank)


@contextmanager
def distributed_session(device_preference: str) -> Iterator[DistContext]:
    """Join the process group for the duration of a ``with`` block (no-op single-process).

    A group that the caller already initialised is used as is and left open.
    """
    rank, local_rank, world_size = launch_ranks()
    device = resolve_device(device_preference, local_rank)
    owns_group = world_size > 1 and not dist.is_initialized()
    if owns_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    try:
        yield DistContext(rank, local_rank, world_size, device)
        if owns_group:
            # Leave together: a rank that tears its gloo group down while rank 0 still
            # evaluates and writes the card can abort ("terminate called without an active
            # exception") after a successful run.
            dist.barrier()
    finally:
        if owns_group:
            dist.destroy_process_group()


def mean_across_ranks(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Element-wise mean of ``values`` over all processes (every rank must call it).

    Args:
        values: (K,) float tensor on ``ctx.device``, the same K on every rank.
    Returns:
        (K,) float tensor, identical on every rank.
    """
    if not ctx.distributed:
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / ctx.world_size


def parameter_digest(module: nn.Module) -> str:
    """SHA-256 (hex) over the names, dtypes, shapes and exact bytes of a module's parameters.

    Buffers are left out: under DDP, statistics such as BatchNorm running means are updated by
    each rank's last forward pass and legitimately differ (rank 0's are the ones saved).
    """
    digest = hashlib.sha256()
    for name, tensor in module.named_parameters():
        data = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{data.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_replicas_identical(module: nn.Module, ctx: DistContext) -> list[str]:
    """Verify every process holds bit-identical parameters (every rank must call it).

    Returns:
        each rank's :func:`parameter_digest`, rank 0 first (one entry single-process).
    Raises:
        RuntimeError: listing the digests when the replicas differ (e.g. a recipe's loss called
        a sub-module directly, bypassing DDP's gradient averaging).
    """
    mine = parameter_digest(module)
    if not ctx.distributed:
        return [mine]
    digests: list[str] = [""] * ctx.world_size
    dist.all_gather_object(digests, mine)
    if len(set(digests)) != 1:
        listing = ", ".join(f"rank {r}: {d[:12]}" for r, d in enumerate(digests))
        raise RuntimeError(f"model replicas diverged ({listing}); the loss must call the "
                           "DDP-wrapped model it is given")
    return digests


def launch_prefix(environ: Mapping[str, str] = os.environ) -> str:
    """The ``torchrun`` launcher of the command line that started this process ('' without
    one), e.g. ``"torchrun --nnodes=1 --nproc_per_node=2 "`` (the script or ``-m module`` and
    its arguments follow)."""
    world_size = int(environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return ""
    per_node = int(environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    return f"torchrun --nnodes={world_size // per_node} --nproc_per_node={per_node} "


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside a ``DistributedDataParallel`` wrapper (or ``model`` itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def set_cpu_threads(num_threads: int, device: str) -> None:
    """Give each process of a CPU run ``num_threads / WORLD_SIZE`` torch threads (at least 1);
    nothing for ``num_threads == 0``, on CUDA, or where CUDA will be picked."""
    if num_threads and device != "cuda" and not torch.cuda.is_available():
        world = int(os.environ.get("WORLD_SIZE", "1"))
        torch.set_num_threads(max(1, num_threads // world))
