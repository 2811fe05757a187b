"""The TensorRT plugin of ``edgegeo::AdaptiveConv`` (the bilateral-upsample op), through
TensorRT's Python plugin API (``tensorrt.plugin``, TensorRT ≥ 10.6; AOT kernels ≥ 10.9).

- ``@trtp.register``: inputs ``x (B, C, H+2r, W+2r)`` and ``kernels (B, H, W, K, K)``,
  attribute ``radius``; output ``(B, C, H, W)`` of ``x``'s type (float32: the op's kernels are
  float32; the fp16 graph keeps the node in fp32 with casts around it).
- ``@trtp.aot_impl`` (ahead of time, preferred): the CUDA kernel of
  ``edgegeo/ops/adaptive_conv.cu`` compiled to PTX with ``nvcc -ptx``, through a thin entry
  point :data:`KERNEL_NAME` whose parameters are in the order TensorRT launches AOT kernels
  with — input pointers, then the scalar ``extra_args`` (B, C, H, W, K), then output
  pointers. TensorRT embeds the PTX in the engine, so engines with the plugin run without
  Python (C++ deployment on Jetson).
- ``@trtp.impl`` (JIT fallback, TensorRT 10.6–10.8 or when nvcc is missing): the same kernel
  through ``edgegeo.ops.cuda_backend`` (CuPy/NVRTC) on TensorRT's stream; needs Python at run
  time.

The ONNX parser finds the plugin from the node's ``plugin_namespace`` / ``plugin_version``
attributes (and ``aot`` to pick the implementation): :func:`prepare_onnx_for_tensorrt` adds
them to the copy TensorRT parses. TensorRT 8.6 (JetPack 5) has no Python plugin API: engines
there use the decomposed graph (``--no-plugins``).
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgegeo.ops.exportable import PLUGIN_DOMAIN as PLUGIN_NAMESPACE
from edgegeo.ops.exportable import PLUGIN_ID
from edgegeo.ops.exportable import PLUGIN_OP as PLUGIN_NAME

PLUGIN_VERSION = "1"
KERNEL_NAME = "edgegeo_adaptive_conv_trt_f32"
THREADS_PER_BLOCK = 256

#: The AOT entry point: the op's forward kernel with TensorRT's AOT argument order.
WRAPPER_SOURCE = r"""
#include "adaptive_conv.cu"

// TensorRT AOT plugin entry: inputs, scalar extra_args, outputs (in that order).
extern "C" __global__ void edgegeo_adaptive_conv_trt_f32(const float* x, const float* kernels,
                                                         int B, int C, int H, int W, int K,
                                                         float* out)
{
    forward_impl<float>(x, kernels, out, B, C, H, W, K, 0, nullptr);
}
"""

_registered: str | None = None


def plugin_api_status() -> tuple[bool, bool, str]:
    """``(python plugins available, AOT available, reason if not)`` for this TensorRT."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        return False, False, f"tensorrt does not import ({exc})"
    try:
        import tensorrt.plugin as trtp
    except ImportError:
        return False, False, (f"TensorRT {trt.__version__} has no tensorrt.plugin (needs "
                              f">= 10.6); export with --no-plugins")
    return True, hasattr(trtp, "aot_impl"), ""


def ops_dir() -> Path:
    from edgegeo.ops import cuda_backend

    return cuda_backend.SOURCE.parent


@functools.lru_cache(maxsize=None)
def compile_plugin_ptx(arch: str | None = None) -> str:
    """PTX of :data:`WRAPPER_SOURCE` (``nvcc -ptx``), cached in the artefact cache by source
    hash and architecture.

    Args:
        arch: virtual architecture (``"compute_87"`` for Jetson Orin); None = nvcc's default.
    Raises:
        RuntimeError: nvcc missing or failing (with its messages).
    """
    from edgegeo.ops import cuda_backend

    from .cache import bytes_sha256, cache_dir, write_bytes_atomic

    source_hash = bytes_sha256((WRAPPER_SOURCE + cuda_backend.SOURCE.read_text()).encode())[:16]
    cached = cache_dir() / "ptx" / f"adaptive_conv_trt-{arch or 'default'}-{source_hash}.ptx"
    if cached.is_file():
        return cached.read_text()
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise RuntimeError("nvcc is not on PATH: the AOT plugin needs the CUDA toolkit to "
                           "compile its PTX")
    with tempfile.TemporaryDirectory(prefix="edgegeo-ptx-") as work:
        source = Path(work) / "adaptive_conv_trt.cu"
        source.write_text(WRAPPER_SOURCE)
        output = Path(work) / "adaptive_conv_trt.ptx"
        command = [nvcc, "-ptx", f"-I{ops_dir()}", str(source), "-o", str(output)]
        if arch is not None:
            command.insert(2, f"-arch={arch}")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
        ptx = output.read_text()
    if f".entry {KERNEL_NAME}(" not in ptx:
        raise RuntimeError(f"nvcc output has no entry {KERNEL_NAME}")
    write_bytes_atomic(cached, ptx.encode())
    return ptx


def register_plugin(prefer_aot: bool = True) -> str:
    """Register ``edgegeo::AdaptiveConv`` with TensorRT (once per process).

    Returns:
        ``"aot"`` (AOT implementation registered, PTX compiled) or ``"jit"`` (Python
        implementation only).
    Raises:
        RuntimeError: no TensorRT, or a TensorRT without ``tensorrt.plugin``.
    """
    global _registered
    if _registered is not None:
        return _registered
    available, aot_available, reason = plugin_api_status()
    if not available:
        raise RuntimeError(f"cannot register the {PLUGIN_ID} plugin: {reason}")
    from typing import Tuple

    import tensorrt.plugin as trtp

    @trtp.register(PLUGIN_ID)
    def adaptive_conv_desc(x: trtp.TensorDesc, kernels: trtp.TensorDesc,
                           radius: int) -> trtp.TensorDesc:
        return trtp.from_shape_expr((x.shape_expr[0], x.shape_expr[1], kernels.shape_expr[1],
                                     kernels.shape_expr[2]), dtype=x.dtype)

    @trtp.autotune(PLUGIN_ID)
    def adaptive_conv_autotune(x: trtp.TensorDesc, kernels: trtp.TensorDesc, radius: int,
                               outputs: Tuple[trtp.TensorDesc]) -> list:
        return [trtp.AutoTuneCombination("FP32, FP32, FP32", "LINEAR")]

    @trtp.impl(PLUGIN_ID)
    def adaptive_conv_impl(x: trtp.Tensor, kernels: trtp.Tensor, radius: int,
                           outputs: Tuple[trtp.Tensor], stream: int) -> None:
        import torch

        from edgegeo.ops import cuda_backend

        x_t = torch.as_tensor(x, device="cuda")
        kernels_t = torch.as_tensor(kernels, device="cuda")
        out_t = torch.as_tensor(outputs[0], device="cuda")
        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            result, _ = cuda_backend.forward(x_t, kernels_t, False)
            out_t.copy_(result)

    mode = "jit"
    if prefer_aot and aot_available and shutil.which("nvcc") is not None:
        @trtp.aot_impl(PLUGIN_ID)
        def adaptive_conv_aot(x: trtp.TensorDesc, kernels: trtp.TensorDesc, radius: int,
                              outputs: Tuple[trtp.TensorDesc], tactic: int):
            ptx = compile_plugin_ptx()
            total = outputs[0].shape_expr.numel()
            launch = trtp.KernelLaunchParams()
            launch.grid_x = trtp.cdiv(total, THREADS_PER_BLOCK)
            launch.block_x = THREADS_PER_BLOCK
            launch.shared_mem = 0
            extra = trtp.SymIntExprs(5)
            for index, expr in enumerate((x.shape_expr[0], x.shape_expr[1],
                                          kernels.shape_expr[1], kernels.shape_expr[2],
                                          kernels.shape_expr[3])):
                extra[index] = trtp.SymInt32(expr)
            return KERNEL_NAME, ptx, launch, extra

        compile_plugin_ptx()          # fail now, not inside the builder
        mode = "aot"
    _registered = mode
    return mode


def prepare_onnx_for_tensorrt(model, aot: bool):
    """Copy of ``model`` whose ``edgegeo::AdaptiveConv`` nodes carry the attributes TensorRT's
    ONNX parser resolves plugins with (``plugin_namespace``, ``plugin_version``, ``aot``)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in copy.graph.node:
        if node.domain == PLUGIN_NAMESPACE and node.op_type == PLUGIN_NAME:
            names = {attribute.name for attribute in node.attribute}
            extra = {"plugin_namespace": PLUGIN_NAMESPACE, "plugin_version": PLUGIN_VERSION,
                     "aot": int(aot)}
            node.attribute.extend(onnx.helper.make_attribute(key, value)
                                  for key, value in extra.items() if key not in names)
    return copy
