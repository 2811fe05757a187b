"""Straightforward torch implementation of ``adaptive_conv``: ``unfold`` + ``einsum``.

It is the ground truth of the tests and the baseline of ``edgegeo bench op``. It materialises
the unfolded input, a ``(B, C*K*K, H*W)`` tensor (K*K times the input), which is exactly the
memory the Cython and CUDA kernels avoid. Differentiable through torch's autograd.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def adaptive_conv_unfold(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """``out[b,c,h,w] = sum_ij kernels[b,h,w,i,j] * x[b,c,h+i,w+j]``.

    Args:
        x: ``(B, C, H+2r, W+2r)`` float tensor, already padded.
        kernels: ``(B, H, W, 2r+1, 2r+1)``, same dtype and device.

    Returns:
        ``(B, C, H, W)``.
    """
    batch, channels = x.shape[:2]
    _, height, width, size, _ = kernels.shape
    columns = F.unfold(x, size).view(batch, channels, size * size, height * width)
    taps = kernels.reshape(batch, height * width, size * size)
    return torch.einsum("bctl,blt->bcl", columns, taps).view(batch, channels, height, width)
