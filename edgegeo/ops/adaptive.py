"""Per-pixel adaptive convolution, the primitive under the bilateral / JBU upsamplers.

    out[b, c, h, w] = sum_{i,j} kernels[b, h, w, i, j] * x[b, c, h + i, w + j]

Every output pixel has its own (2r+1)x(2r+1) window, shared by all channels. ``x`` comes padded
by r on each side (the caller picks the padding: zeros, replicate, ...). One definition and
one set of checks (``validation``), three back ends: the Cython kernels (CPU: numpy arrays and
torch CPU tensors), the CUDA kernels of ``adaptive_conv.cu`` (torch CUDA tensors), and, later,
the TensorRT plugin built from the same ``.cu``. Taps are summed in the same (i, j) order
everywhere, so results agree to rounding (the GPU fuses multiply-adds).

Memory is O(input + kernels + output): no (B, C, K*K, H, W) intermediate is ever formed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from edgegeo.ops import cpu_backend
from edgegeo.ops.validation import check_adaptive_conv_inputs, check_grad_out, raise_non_finite


class _TorchCPU:
    """``cpu_backend`` for torch CPU tensors: zero-copy numpy views in, tensors out."""

    @staticmethod
    def forward(x, kernels, check_finite):
        out, finite = cpu_backend.forward(x.detach().numpy(), kernels.detach().numpy(),
                                          check_finite)
        return torch.from_numpy(out), finite

    @staticmethod
    def grad_input(grad_out, kernels):
        grad_x = cpu_backend.grad_input(grad_out.detach().numpy(), kernels.detach().numpy())
        return torch.from_numpy(grad_x)

    @staticmethod
    def grad_kernels(grad_out, x):
        grad_k = cpu_backend.grad_kernels(grad_out.detach().numpy(), x.detach().numpy())
        return torch.from_numpy(grad_k)


def _c_contiguous(array):
    """``array`` itself if it is already C-contiguous, else one C-contiguous copy (numpy array or
    torch tensor; for a tensor the copy is differentiable, so gradients reach the original view).
    Anything else is returned unchanged, for the input checks to reject."""
    if isinstance(array, torch.Tensor):
        return array.contiguous()
    if isinstance(array, np.ndarray) and not array.flags.c_contiguous:
        return np.ascontiguousarray(array)
    return array


def _backend(array):
    """The module-like backend that computes on ``array``'s kind and device."""
    if isinstance(array, np.ndarray):
        return cpu_backend
    if array.device.type == "cpu":
        return _TorchCPU
    if array.device.type == "cuda":
        from edgegeo.ops import cuda_backend
        return cuda_backend
    raise ValueError(f"adaptive_conv runs on CPU or CUDA tensors, got device {array.device}")


def _checked_forward(x, kernels, check_finite: bool):
    out, finite = _backend(x).forward(x, kernels, check_finite)
    if not finite:
        raise_non_finite(x, kernels)
    return out


class AdaptiveConvFunction(torch.autograd.Function):
    """Autograd wrapper: gradients wrt both ``x`` and ``kernels``, each computed only if needed."""

    @staticmethod
    def forward(ctx, x, kernels, check_finite):
        ctx.save_for_backward(x, kernels)
        return _checked_forward(x, kernels, check_finite)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, kernels = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        backend = _backend(x)
        grad_x = backend.grad_input(grad_out, kernels) if ctx.needs_input_grad[0] else None
        grad_k = backend.grad_kernels(grad_out, x) if ctx.needs_input_grad[1] else None
        return grad_x, grad_k, None


def adaptive_conv(x, kernels, *, check_finite: bool = True):
    """Per-pixel adaptive convolution (see the module docstring for the formula).

    Args:
        x: ``(B, C, H+2r, W+2r)`` float32 or float64, the input already padded by r.
        kernels: ``(B, H, W, 2r+1, 2r+1)``, same dtype: one window per output pixel, shared
            by the channels (not normalised here: that is the caller's choice).
        check_finite: raise if the output holds NaN/inf. The check scans the output in the
            kernel itself, which proves x and kernels finite too (every input element enters
            some output sum); on CUDA it reads one flag back, i.e. waits for the kernel.

    Both arguments are numpy arrays (the result is numpy, no autograd) or both torch tensors on
    one device, CPU or CUDA (differentiable wrt both). Any strided layout is accepted (slices,
    transposed / permuted views, Fortran-order arrays, negative numpy strides): an argument that
    is not C-contiguous is copied to C order once, here, before the kernels (for tensors the
    copy is part of the graph, so its gradient flows back to the original view); C-contiguous
    arguments are used as they are, without a copy.

    Returns:
        ``(B, C, H, W)``, the dtype and kind of ``x``.

    Raises:
        ValueError: wrong rank, size or dtype (the message names it), or NaN/inf.
    """
    x, kernels = _c_contiguous(x), _c_contiguous(kernels)
    check_adaptive_conv_inputs(x, kernels)
    if isinstance(x, torch.Tensor):
        return AdaptiveConvFunction.apply(x, kernels, check_finite)
    return _checked_forward(x, kernels, check_finite)


def adaptive_conv_backward(grad_out, x, kernels):
    """Gradients of ``adaptive_conv`` without autograd (numpy arrays or torch tensors).

    Args:
        grad_out: ``(B, C, H, W)``, gradient of the loss wrt the output.
        x, kernels: the forward's arguments (shapes as in ``adaptive_conv``).

    Returns:
        ``(grad_x (B, C, H+2r, W+2r), grad_kernels (B, H, W, 2r+1, 2r+1))``.
    """
    grad_out, x, kernels = (_c_contiguous(a) for a in (grad_out, x, kernels))
    check_adaptive_conv_inputs(x, kernels)
    check_grad_out(grad_out, x, kernels)
    backend = _backend(x)
    return backend.grad_input(grad_out, kernels), backend.grad_kernels(grad_out, x)
