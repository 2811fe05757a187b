"""Input checks of ``adaptive_conv``, shared by its CPU and CUDA backends.

Every check raises ``ValueError`` naming the argument and what is wrong with it. The checks read
shapes, dtypes and flags only (constant time); values are checked after the fact, from the
output (see ``raise_non_finite``).
"""
from __future__ import annotations

import numpy as np
import torch

FLOAT_DTYPES = ("float32", "float64")


def dtype_name(array) -> str:
    """``'float32'``-style name of a numpy array's or a torch tensor's dtype."""
    return str(array.dtype).removeprefix("torch.")


def is_contiguous(array) -> bool:
    """True if the numpy array or torch tensor is C-contiguous (row-major, no gaps)."""
    return array.is_contiguous() if isinstance(array, torch.Tensor) else array.flags.c_contiguous


def check_array_kinds(**arrays) -> None:
    """All arrays are numpy arrays, or all are torch tensors on one device."""
    kinds = {name: type(a) for name, a in arrays.items()}
    if not all(isinstance(a, (np.ndarray, torch.Tensor)) for a in arrays.values()):
        raise ValueError(f"expected numpy arrays or torch tensors, got {kinds}")
    tensors = [isinstance(a, torch.Tensor) for a in arrays.values()]
    if any(tensors) and not all(tensors):
        raise ValueError(f"mix of numpy arrays and torch tensors: {kinds}; pass one kind")
    if all(tensors):
        devices = {name: str(a.device) for name, a in arrays.items()}
        if len(set(devices.values())) > 1:
            raise ValueError(f"tensors on different devices: {devices}")


def _check_layout(name: str, array, ndim: int, layout: str) -> None:
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {tuple(array.shape)}")
    if dtype_name(array) not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {dtype_name(array)}")
    if not is_contiguous(array):
        raise ValueError(f"{name} must be C-contiguous (np.ascontiguousarray / .contiguous())")


def check_adaptive_conv_inputs(x, kernels) -> int:
    """Validate ``x (B,C,H+2r,W+2r)`` and ``kernels (B,H,W,2r+1,2r+1)``; return the radius r."""
    check_array_kinds(x=x, kernels=kernels)
    _check_layout("x", x, 4, "(B, C, H+2r, W+2r)")
    _check_layout("kernels", kernels, 5, "(B, H, W, 2r+1, 2r+1)")
    batch, height, width, size, size_j = kernels.shape
    if size != size_j:
        raise ValueError(f"kernel windows must be square, got {size}x{size_j}")
    if size % 2 == 0:
        raise ValueError(f"kernel size must be odd (2r+1), got {size}")
    radius = (size - 1) // 2
    if x.shape[0] != batch:
        raise ValueError(f"batch sizes differ: x has {x.shape[0]}, kernels {batch}")
    expected = (height + 2 * radius, width + 2 * radius)
    if tuple(x.shape[2:]) != expected:
        raise ValueError(
            f"x must be the {height}x{width} output padded by r={radius} on each side, i.e. "
            f"{expected[0]}x{expected[1]} for kernels of size {size}; got "
            f"{x.shape[2]}x{x.shape[3]}")
    if dtype_name(x) != dtype_name(kernels):
        raise ValueError(f"dtype mismatch: x is {dtype_name(x)}, kernels {dtype_name(kernels)}")
    return radius


def check_grad_out(grad_out, x, kernels) -> None:
    """Validate ``grad_out (B,C,H,W)`` against already validated ``x`` and ``kernels``."""
    check_array_kinds(grad_out=grad_out, x=x)
    _check_layout("grad_out", grad_out, 4, "(B, C, H, W)")
    expected = (x.shape[0], x.shape[1], kernels.shape[1], kernels.shape[2])
    if tuple(grad_out.shape) != expected:
        raise ValueError(f"grad_out must have the output's shape {expected}, got "
                         f"{tuple(grad_out.shape)}")
    if dtype_name(grad_out) != dtype_name(x):
        raise ValueError(f"dtype mismatch: grad_out is {dtype_name(grad_out)}, x {dtype_name(x)}")


def raise_non_finite(x, kernels) -> None:
    """Raise the ``ValueError`` for an output that holds NaN/inf, naming the culprit.

    Every element of the padded ``x`` and every kernel tap enters at least one output sum, and
    IEEE arithmetic keeps NaN/inf (``0 * inf`` is NaN), so a finite output proves finite inputs;
    only this rare error path scans the inputs to say which one it was.
    """
    for name, array in (("x", x), ("kernels", kernels)):
        is_finite = torch.isfinite if isinstance(array, torch.Tensor) else np.isfinite
        if not bool(is_finite(array).all()):
            raise ValueError(f"{name} contains NaN or inf")
    raise ValueError("adaptive_conv overflowed: the output holds inf although x and kernels are "
                     "finite (values too large for the dtype)")
