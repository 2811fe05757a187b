"""CUDA backend of ``adaptive_conv``: torch CUDA tensors in and out, computed by the kernels of
``adaptive_conv.cu``.

Build choice. The kernels are compiled on demand, at their first use on a device, by NVRTC
through CuPy's ``RawModule``:
  - no build step and no CUDA toolchain at install time: the CPU wheel and ``pip install -e .``
    stay pure Cython/C, and a GPU machine needs only ``cupy-cuda12x`` (NVRTC ships with it);
  - compiled for the exact GPU in the machine (NVRTC targets the current device), cached by
    CuPy on disk after the first run;
  - interoperates with torch without copies through DLPack, on torch's current stream.
A torch C++/CUDA extension would tie the build to the CUDA version torch was built with and
need nvcc and the torch headers on every machine that installs the package; NVRTC needs
neither. The TensorRT plugin needs the same kernels without Python: ``compile_ptx`` writes
them as PTX ahead of time with ``nvcc -ptx`` (same source, unmangled ``extern "C"`` names),
which the plugin loads with the driver API (``cuModuleLoadData``).

Arguments are validated by ``edgegeo.ops.validation`` before they get here.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import torch

SOURCE = Path(__file__).with_name("adaptive_conv.cu")
THREADS_PER_BLOCK = 256
MAX_BLOCKS = 65536  # grid-stride loops cover the rest


def compile_ptx(output: Path | str, arch: str | None = None) -> Path:
    """Compile ``adaptive_conv.cu`` to PTX with ``nvcc -ptx`` (for the TensorRT plugin).

    ``arch`` is a virtual architecture such as ``"compute_87"`` (Jetson Orin); None keeps
    nvcc's default. Raises ``RuntimeError`` with nvcc's messages if it is missing or fails.
    """
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        raise RuntimeError("nvcc is not on PATH: install the CUDA toolkit to build the PTX")
    output = Path(output)
    command = [nvcc, "-ptx", str(SOURCE), "-o", str(output)]
    if arch is not None:
        command.insert(2, f"-arch={arch}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    return output


@functools.lru_cache(maxsize=None)
def _module(device_index: int):
    """The compiled kernels for one device (NVRTC, on first use)."""
    import cupy

    with cupy.cuda.Device(device_index):
        return cupy.RawModule(code=SOURCE.read_text(), options=("--std=c++14",))


def _launch(name: str, n_threads: int, *args: torch.Tensor | int) -> None:
    """Run kernel ``adaptive_conv_<name>_<f32|f64>`` over ``n_threads`` elements on torch's
    current stream of the tensors' device; tensors go as pointers (DLPack, no copy), ints as
    ``int``. The dtype suffix is the first argument's."""
    import cupy

    if n_threads == 0:
        return
    first = args[0]
    device = first.device.index
    suffix = "f32" if first.dtype == torch.float32 else "f64"
    kernel = _module(device).get_function(f"adaptive_conv_{name}_{suffix}")
    blocks = min(-(-n_threads // THREADS_PER_BLOCK), MAX_BLOCKS)
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device), cupy.cuda.ExternalStream(stream.cuda_stream):
        # detach: torch refuses to export tensors that require grad (autograd inputs do)
        kernel_args = tuple(cupy.from_dlpack(a.detach()) if isinstance(a, torch.Tensor)
                            else np.int32(a) for a in args)
        kernel((blocks,), (THREADS_PER_BLOCK,), kernel_args)


def forward(x: torch.Tensor, kernels: torch.Tensor,
            check_finite: bool) -> tuple[torch.Tensor, bool]:
    """``(B,C,H,W)`` output and whether it is all finite (True when not checked; checking
    reads one flag back, which waits for the kernel)."""
    batch, channels = x.shape[:2]
    _, height, width, size, _ = kernels.shape
    out = torch.empty((batch, channels, height, width), dtype=x.dtype, device=x.device)
    non_finite = torch.zeros(1, dtype=torch.int32, device=x.device)
    _launch("forward", out.numel(), x, kernels, out, batch, channels, height, width, size,
            int(check_finite), non_finite)
    return out, not (check_finite and bool(non_finite.item()))


def grad_input(grad_out: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Gradient wrt the padded input, ``(B,C,H+2r,W+2r)``."""
    batch, channels, height, width = grad_out.shape
    size = kernels.shape[3]
    grad_x = torch.empty((batch, channels, height + size - 1, width + size - 1),
                         dtype=grad_out.dtype, device=grad_out.device)
    _launch("grad_input", grad_x.numel(), grad_out, kernels, grad_x, batch, channels, height,
            width, size)
    return grad_x


def grad_kernels(grad_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Gradient wrt the kernels, ``(B,H,W,K,K)`` with K = 2r+1 read from the padding of x."""
    batch, channels, height, width = grad_out.shape
    size = x.shape[2] - height + 1
    grad_k = torch.empty((batch, height, width, size, size), dtype=grad_out.dtype,
                         device=grad_out.device)
    _launch("grad_kernels", grad_k.numel(), grad_out, x, grad_k, batch, channels, height,
            width, size)
    return grad_k
