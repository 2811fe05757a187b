"""Mixed precision: which dtype autocast uses, and loss scaling for fp16 on CUDA."""
from __future__ import annotations

import contextlib

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision (``fp32`` | ``bf16`` | ``fp16``) for ``precision`` on ``device``.

    ``auto``: bf16 on a CUDA GPU that supports it, fp16 on an older CUDA GPU, fp32 on CPU.

    Raises:
        ValueError: fp16 off CUDA, or bf16 on a CUDA GPU without bf16 support.
    """
    cuda = device.type == "cuda"
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision not in DTYPES:
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp16" and not cuda:
        raise ValueError("precision=fp16 needs a CUDA device; use bf16 or fp32 on CPU")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU does not support bf16; use fp16 or fp32")
    return precision


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Context that runs the forward pass and loss in ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def make_grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that scales losses for fp16 on CUDA and is a pass-through otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16" and device.type == "cuda")
