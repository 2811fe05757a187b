"""The bilateral-upsample op (``edgegeo.ops.adaptive_conv``) in exported graphs.

Two forms (chosen at export, ``plugins=True`` / ``--no-plugins``):

- **custom node** ``edgegeo::AdaptiveConv(x, kernels)`` (attribute ``radius``): one node, no
  ``(B, C, K², H, W)`` intermediate. TensorRT runs it through the plugin of ``trt_plugin.py``
  (the CUDA kernel of ``edgegeo/ops/adaptive_conv.cu``); ONNX Runtime runs it through a
  registered custom op backed by our Cython kernel (below).
- **decomposed** into standard ops (one-hot ``Conv`` unfold, ``Mul``, ``ReduceSum``; written by
  ``edgegeo.ops.exportable``): runs on any ONNX runtime.

ONNX Runtime side. ``onnxruntime-extensions`` lets Python functions serve as ORT kernels
(``@onnx_op``), loaded into a session with ``SessionOptions.register_custom_ops_library``. Its
Python ops live in the domain ``ai.onnx.contrib``, so :func:`for_onnxruntime` renames the
domain of ``edgegeo`` nodes in the in-memory copy a session is built from; the file on disk
keeps ``edgegeo::AdaptiveConv`` (what the TensorRT parser looks up as a plugin). The kernel is
``edgegeo.ops.adaptive_conv`` on numpy arrays (the Cython/OpenMP kernel), float32.
(Writing an ORT custom-op library in C++ would need ORT's C API headers, which the
``onnxruntime`` wheel does not ship; the extensions wheel is a supported, released package.)
"""
from __future__ import annotations

import functools

import numpy as np
import onnx

from edgegeo.ops.exportable import PLUGIN_DOMAIN, PLUGIN_OP

ORT_PY_DOMAIN = "ai.onnx.contrib"


def custom_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The ``edgegeo::AdaptiveConv`` nodes of a graph (main graph only)."""
    return [node for node in model.graph.node
            if node.domain == PLUGIN_DOMAIN and node.op_type == PLUGIN_OP]


def adaptive_conv_numpy(x: np.ndarray, kernels: np.ndarray, radius: int = 3) -> np.ndarray:
    """The custom node's computation on numpy arrays (what ORT calls).

    Args:
        x: ``(B, C, H+2r, W+2r)`` float32, padded input.
        kernels: ``(B, H, W, 2r+1, 2r+1)`` float32.
        radius: r, checked against the kernels.
    Returns:
        ``(B, C, H, W)`` float32.
    """
    from edgegeo.ops import adaptive_conv

    x = np.ascontiguousarray(x, dtype=np.float32)
    kernels = np.ascontiguousarray(kernels, dtype=np.float32)
    if kernels.ndim != 5 or kernels.shape[3] != 2 * radius + 1:
        raise ValueError(f"edgegeo::AdaptiveConv: kernels {kernels.shape} do not match radius "
                         f"{radius}")
    return adaptive_conv(x, kernels, check_finite=False)


@functools.lru_cache(maxsize=1)
def ort_custom_ops_library() -> str:
    """Register the ``AdaptiveConv`` Python op with onnxruntime-extensions (once) and return
    the library path for ``SessionOptions.register_custom_ops_library``.

    Raises:
        RuntimeError: onnxruntime-extensions is not installed (with the fix).
    """
    try:
        from onnxruntime_extensions import PyCustomOpDef, get_library_path, onnx_op
    except ImportError:
        raise RuntimeError(
            "this graph has edgegeo::AdaptiveConv custom nodes; running them in ONNX Runtime "
            "needs onnxruntime-extensions (pip install onnxruntime-extensions), or export with "
            "--no-plugins for a standard-ops graph") from None

    @onnx_op(op_type=PLUGIN_OP, inputs=[PyCustomOpDef.dt_float, PyCustomOpDef.dt_float],
             outputs=[PyCustomOpDef.dt_float], attrs={"radius": PyCustomOpDef.dt_int64})
    def _adaptive_conv(x, kernels, radius=3):
        return adaptive_conv_numpy(x, kernels, int(radius))

    return get_library_path()


def for_onnxruntime(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose ``edgegeo::AdaptiveConv`` nodes are in the domain of the
    registered Python op (the model itself is not changed)."""
    if not custom_nodes(model):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in custom_nodes(copy):
        node.domain = ORT_PY_DOMAIN
    domains = {entry.domain for entry in copy.opset_import}
    if ORT_PY_DOMAIN not in domains:
        copy.opset_import.add(domain=ORT_PY_DOMAIN, version=1)
    return copy
