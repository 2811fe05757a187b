"""The op's export: ``adaptive_conv`` as models call it (the JBU stages of ``jbu`` and
``stereo``): the op of ``edgegeo.ops`` (Cython on CPU, CUDA kernel on GPU, same autograd) plus
its ONNX ``symbolic``, so models built on it export. The custom node's domain and name
(:data:`PLUGIN_DOMAIN`, :data:`PLUGIN_OP`) are defined here, once, for ``export/``.

Two ways the op can appear in an exported graph (pick with :func:`onnx_adaptive_conv_mode`):

- ``"decompose"`` (default, what a runtime without edgegeo's plugin runs): standard ONNX ops
  only — the padded input reshaped to ``(B·C, 1, H+2r, W+2r)``, unfolded by a ``Conv`` whose
  ``(K², 1, K, K)`` weight is one-hot (tap t picks offset (i, j), exact in fp32), multiplied by
  the kernels transposed to ``(B, 1, K², H, W)`` and reduced over the taps (``ReduceSum``).
  It materialises a ``(B, C, K², H, W)`` tensor, which is what the plugin avoids.
- ``"plugin"``: one custom node ``edgegeo::AdaptiveConv(x, kernels)`` (attribute ``radius``),
  for the TensorRT plugin built from ``edgegeo/ops/adaptive_conv.cu``. ONNX Runtime cannot run
  it without a custom-op library; export with ``custom_opsets={"edgegeo": 1}``.

``local_correlation(keys, radius)`` — the JBU range term ``⟨k(q+o), k(q)⟩`` over a window —
is the same computation as the op's kernel gradient, so it runs on the op's backends too
(forward = ``grad_kernels``, backward = ``forward`` and ``grad_input``), with no per-offset
intermediates; under ONNX export it is written as 49 slices, products and channel sums.

(The symbolic lives here, on a subclass of ``edgegeo.ops.adaptive.AdaptiveConvFunction``,
because the op module belongs to the op; both share forward and backward.)
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.autograd.function import once_differentiable

# _backend: the op's own per-device dispatch (Cython on CPU, CUDA kernels on GPU).
from .adaptive import AdaptiveConvFunction, _backend
from .validation import check_adaptive_conv_inputs

ONNX_MODES = ("decompose", "plugin")
PLUGIN_DOMAIN = "edgegeo"
PLUGIN_OP = "AdaptiveConv"
PLUGIN_ID = f"{PLUGIN_DOMAIN}::{PLUGIN_OP}"

_onnx_mode = "decompose"


@contextlib.contextmanager
def onnx_adaptive_conv_mode(mode: str) -> Iterator[None]:
    """Within the block, ONNX export writes ``adaptive_conv`` as ``mode`` (see module doc).

    Raises:
        ValueError: ``mode`` is not ``"decompose"`` or ``"plugin"``.
    """
    global _onnx_mode
    if mode not in ONNX_MODES:
        raise ValueError(f"ONNX adaptive_conv mode must be one of {ONNX_MODES}, got {mode!r}")
    previous, _onnx_mode = _onnx_mode, mode
    try:
        yield
    finally:
        _onnx_mode = previous


def exporting_decomposed() -> bool:
    """True while a model is being traced for ONNX export in ``"decompose"`` mode (a model
    may then write its use of the op in the standard-op form that suits it best)."""
    return (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()) \
        and _onnx_mode == "decompose"


def _static_kernel_size(kernels) -> int:
    from torch.onnx import symbolic_helper

    sizes = symbolic_helper._get_tensor_sizes(kernels)
    if not sizes or len(sizes) != 5 or sizes[3] is None or sizes[3] != sizes[4]:
        raise ValueError(f"ONNX export of adaptive_conv needs kernels (B, H, W, K, K) with a "
                         f"static K, got sizes {sizes}")
    return int(sizes[3])


def _decomposed(g, x, kernels, size: int):
    """Standard-op graph of ``out[b,c,h,w] = sum_ij kernels[b,h,w,i,j] x[b,c,h+i,w+j]``."""
    taps = size * size

    def const(values, dtype=torch.int64):
        return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))

    # (B, C, Hp, Wp) -> (B*C, 1, Hp, Wp): "0" keeps the input's dimension at that index.
    x_shape = g.op("Shape", x)
    planes = g.op("Reshape", x, const([-1, 1, 0, 0]))
    one_hot = torch.zeros(taps, 1, size, size)
    for tap in range(taps):
        one_hot[tap, 0, tap // size, tap % size] = 1.0
    weight = g.op("Constant", value_t=one_hot)
    if x.type().scalarType() == "Double":
        weight = g.op("Cast", weight, to_i=11)
    columns = g.op("Conv", planes, weight, kernel_shape_i=[size, size])     # (B*C, K², H, W)
    # (B, C, K², H, W) from B, C of x and H, W of the kernels
    k_shape = g.op("Shape", kernels)
    batch_channels = g.op("Slice", x_shape, const([0]), const([2]))
    height_width = g.op("Slice", k_shape, const([1]), const([3]))
    target = g.op("Concat", batch_channels, const([taps]), height_width, axis_i=0)
    columns = g.op("Reshape", columns, target)
    # kernels (B, H, W, K, K) -> (B, 1, K², H, W)
    weights = g.op("Reshape", kernels, const([0, 0, 0, -1]))
    weights = g.op("Transpose", weights, perm_i=[0, 3, 1, 2])
    weights = g.op("Unsqueeze", weights, const([1]))
    product = g.op("Mul", columns, weights)
    return g.op("ReduceSum", product, const([2]), keepdims_i=0)


class ExportableAdaptiveConv(AdaptiveConvFunction):
    """``AdaptiveConvFunction`` (same forward/backward) with an ONNX symbolic."""

    @staticmethod
    def symbolic(g, x, kernels, check_finite):
        size = _static_kernel_size(kernels)
        if _onnx_mode == "plugin":
            out = g.op(PLUGIN_ID, x, kernels, radius_i=(size - 1) // 2)
            out.setType(x.type())
            return out
        return _decomposed(g, x, kernels, size)


def adaptive_conv(x: torch.Tensor, kernels: torch.Tensor, *, check_finite: bool = True
                  ) -> torch.Tensor:
    """``edgegeo.ops.adaptive_conv`` on torch tensors, exportable to ONNX.

    Args:
        x: ``(B, C, H+2r, W+2r)`` float32/float64 tensor, already padded by r.
        kernels: ``(B, H, W, 2r+1, 2r+1)``, same dtype and device (strided views are made
            contiguous once here).
        check_finite: raise if the output holds NaN/inf (skipped while exporting).

    Returns:
        ``(B, C, H, W)``: ``out[b,c,h,w] = sum_ij kernels[b,h,w,i,j] * x[b,c,h+i,w+j]``.
    """
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return ExportableAdaptiveConv.apply(x, kernels, False)
    x, kernels = x.contiguous(), kernels.contiguous()
    check_adaptive_conv_inputs(x, kernels)
    return ExportableAdaptiveConv.apply(x, kernels, check_finite)


class LocalCorrelation(torch.autograd.Function):
    """``corr[b,h,w,i,j] = sum_c keys[b,c,h,w] * padded[b,c,h+i,w+j]`` and its gradients, on
    the adaptive-conv backends (it is their ``grad_kernels``)."""

    @staticmethod
    def forward(ctx, keys, padded):
        ctx.save_for_backward(keys, padded)
        return _backend(keys).grad_kernels(keys.contiguous(), padded.contiguous())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_corr):
        keys, padded = ctx.saved_tensors
        grad_corr = grad_corr.contiguous()
        backend = _backend(keys)
        grad_keys = grad_padded = None
        if ctx.needs_input_grad[0]:
            grad_keys, _ = backend.forward(padded, grad_corr, False)
        if ctx.needs_input_grad[1]:
            grad_padded = backend.grad_input(keys, grad_corr)
        return grad_keys, grad_padded


def local_correlation(keys: torch.Tensor, radius: int) -> torch.Tensor:
    """Dot products of every pixel's key with the keys of its window, reflection past borders.

    Args:
        keys: ``(B, C, H, W)`` float32/float64 tensor, H and W > radius.
        radius: window radius r (window K = 2r+1 square).
    Returns:
        ``(B, H, W, K, K)``: ``out[b,h,w,i,j] = <keys[b,:,h,w], keys[b,:,h+i-r,w+j-r]>``,
        differentiable wrt ``keys``.
    """
    padded = torch.nn.functional.pad(keys, (radius,) * 4, mode="reflect")
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        size, last = 2 * radius + 1, 2 * radius
        taps = []
        for i in range(size):
            rows = padded[:, :, i:(i - last) or None]
            for j in range(size):
                taps.append((rows[:, :, :, j:(j - last) or None] * keys).sum(1))
        batch = keys.shape[0]
        stacked = torch.stack(taps, -1)                                    # (B, H, W, K²)
        return stacked.reshape(batch, stacked.shape[1], stacked.shape[2], size, size)
    return LocalCorrelation.apply(keys.contiguous(), padded.contiguous())
