"""CPU backend of ``adaptive_conv``: numpy arrays in and out, computed by the Cython kernels
of ``_adaptive_conv.pyx`` (OpenMP over rows; see that module for the loop design).

Arguments are validated by ``edgegeo.ops.validation`` before they get here.
"""
from __future__ import annotations

import numpy as np

try:
    from edgegeo.ops import _adaptive_conv as _kernels
except ImportError as exc:  # pragma: no cover - depends on the build, not on the code
    raise ImportError("edgegeo.ops._adaptive_conv is not compiled: run `pip install -e .` or "
                      "`python setup.py build_ext --inplace` in the repository root") from exc


def forward(x: np.ndarray, kernels: np.ndarray, check_finite: bool) -> tuple[np.ndarray, bool]:
    """``(B,C,H,W)`` output and whether it is all finite (True when not checked)."""
    batch, channels = x.shape[:2]
    out = np.empty((batch, channels, *kernels.shape[1:3]), x.dtype)
    n_bad_rows = _kernels.forward(x, kernels, out, check_finite)
    return out, n_bad_rows == 0


def grad_input(grad_out: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Gradient wrt the padded input, ``(B,C,H+2r,W+2r)``."""
    pad = kernels.shape[3] - 1
    batch, channels, height, width = grad_out.shape
    grad_x = np.empty((batch, channels, height + pad, width + pad), grad_out.dtype)
    _kernels.grad_input(grad_out, kernels, grad_x)
    return grad_x


def grad_kernels(grad_out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient wrt the kernels, ``(B,H,W,K,K)`` with K = 2r+1 read from the padding of x."""
    batch, _, height, width = grad_out.shape
    size = x.shape[2] - height + 1
    grad_k = np.empty((batch, height, width, size, size), grad_out.dtype)
    _kernels.grad_kernels(grad_out, x, grad_k)
    return grad_k
