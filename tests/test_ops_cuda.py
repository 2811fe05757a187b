"""The CUDA kernels of adaptive_conv (edgegeo/ops/adaptive_conv.cu).

Three levels, from always-available to GPU-only:
  - the .cu compiles to PTX with nvcc (skipped without nvcc);
  - the kernels' arithmetic, compiled for the host with g++ and a few lines that emulate the
    CUDA built-ins (one thread walking every grid-stride loop), matches the CPU op: index
    maths, tap coverage of the kernel gradient, the non-finite flag (skipped without g++);
  - on a GPU through the CuPy runtime: forward and both gradients match the CPU op
    (``-m cuda``; skipped without a CUDA device or cupy).
"""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch

from edgegeo.ops import adaptive_conv, adaptive_conv_backward
from edgegeo.ops.cuda_backend import SOURCE, compile_ptx

ENTRY_POINTS = [f"adaptive_conv_{name}_{suffix}"
                for name in ("forward", "grad_kernels", "grad_input") for suffix in ("f32", "f64")]

HOST_EMULATION = """
#define __global__
#define __device__
#define __forceinline__ inline
struct EmulatedDim3 { unsigned int x; };
static const EmulatedDim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
static inline int atomicOr(int* address, int value) {
    int old = *address;
    *address |= value;
    return old;
}
"""


def make_inputs(batch, channels, height, width, radius, dtype, seed=0):
    rng = np.random.default_rng(seed)
    size = 2 * radius + 1
    padded = (batch, channels, height + 2 * radius, width + 2 * radius)
    x = rng.standard_normal(padded).astype(dtype)
    kernels = rng.standard_normal((batch, height, width, size, size)).astype(dtype)
    grad_out = rng.standard_normal((batch, channels, height, width)).astype(dtype)
    return x, kernels, grad_out


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_cuda_source_compiles_to_ptx_with_nvcc(tmp_path):
    ptx = compile_ptx(tmp_path / "adaptive_conv.ptx").read_text()
    for name in ENTRY_POINTS:
        assert f".entry {name}(" in ptx


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """The .cu compiled for the host (g++ + HOST_EMULATION), loaded with ctypes."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    folder = tmp_path_factory.mktemp("cuda_on_host")
    (folder / "emulation.h").write_text(HOST_EMULATION)
    library = folder / "adaptive_conv_host.so"
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-x", "c++", "-include",
                    str(folder / "emulation.h"), str(SOURCE), "-o", str(library)], check=True)
    return ctypes.CDLL(str(library))


def _call(library, name, *args):
    """Run ``adaptive_conv_<name>_<f32|f64>``: arrays go as pointers, ints as ``int``."""
    suffix = "f32" if args[0].dtype == np.float32 else "f64"
    converted = [a.ctypes.data_as(ctypes.c_void_p) if isinstance(a, np.ndarray) else ctypes.c_int(a)
                 for a in args]
    getattr(library, f"adaptive_conv_{name}_{suffix}")(*converted)


def run_on_host(library, x, kernels, grad_out):
    """Forward (with the non-finite flag) and both gradients from the CUDA source on the host."""
    batch, channels, height, width = grad_out.shape
    dims = (batch, channels, height, width, kernels.shape[3])
    out, flag = np.empty_like(grad_out), np.zeros(1, np.int32)
    grad_x, grad_kernels = np.empty_like(x), np.empty_like(kernels)
    _call(library, "forward", x, kernels, out, *dims, 1, flag)
    _call(library, "grad_input", grad_out, kernels, grad_x, *dims)
    _call(library, "grad_kernels", grad_out, x, grad_kernels, *dims)
    return out, int(flag[0]), grad_x, grad_kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 9, 13, 1), (1, 2, 7, 20, 3), (1, 1, 3, 2, 3)])
def test_cuda_kernel_arithmetic_matches_cpu_op(host_kernels, shape, dtype):
    x, kernels, grad_out = make_inputs(*shape, dtype)
    out, flag, grad_x, grad_kernels = run_on_host(host_kernels, x, kernels, grad_out)
    expected_grad_x, expected_grad_kernels = adaptive_conv_backward(grad_out, x, kernels)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out, adaptive_conv(x, kernels), **tolerance)
    np.testing.assert_allclose(grad_x, expected_grad_x, **tolerance)
    np.testing.assert_allclose(grad_kernels, expected_grad_kernels, **tolerance)
    assert flag == 0


def test_cuda_kernel_gradient_reaches_every_tap(host_kernels):
    # with x = 1 and gout = 1, every tap's gradient is the channel count
    x = np.ones((2, 3, 6 + 6, 5 + 6))
    kernels = np.zeros((2, 6, 5, 7, 7))
    _, _, _, grad_kernels = run_on_host(host_kernels, x, kernels, np.ones((2, 3, 6, 5)))
    np.testing.assert_array_equal(grad_kernels, 3.0)


def test_cuda_kernel_flags_non_finite_output(host_kernels):
    x, kernels, grad_out = make_inputs(1, 2, 4, 5, 1, np.float32)
    kernels[0, 3, 4, 1, 1] = np.inf
    assert run_on_host(host_kernels, x, kernels, grad_out)[1] == 1


def _why_no_cuda():
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "cupy is not installed (pip install cupy-cuda12x)"
    return None


NO_CUDA = _why_no_cuda()
needs_cuda = pytest.mark.skipif(NO_CUDA is not None, reason=NO_CUDA or "")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 3, 9, 13, 1), (1, 64, 40, 56, 3), (1, 1, 3, 2, 3)])
def test_cuda_op_matches_cpu_op(shape, dtype):
    x, kernels, grad_out = (torch.from_numpy(a).to(dtype) for a in make_inputs(*shape, np.float64))
    outputs = {}
    for device in ("cpu", "cuda"):
        x_ = x.to(device).requires_grad_()
        kernels_ = kernels.to(device).requires_grad_()
        out = adaptive_conv(x_, kernels_)
        out.backward(grad_out.to(device))
        outputs[device] = [t.detach().cpu() for t in (out, x_.grad, kernels_.grad)]
    limit = 1e-4 if dtype == torch.float32 else 1e-10
    tolerance = dict(rtol=limit, atol=limit)
    for gpu, cpu in zip(outputs["cuda"], outputs["cpu"]):
        torch.testing.assert_close(gpu, cpu, **tolerance)


@pytest.mark.cuda
@needs_cuda
def test_cuda_op_raises_on_non_finite_input():
    x, kernels, _ = (torch.from_numpy(a).cuda() for a in make_inputs(1, 2, 4, 5, 1, np.float32))
    kernels[0, 3, 4, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="kernels contains NaN or inf"):
        adaptive_conv(x, kernels)
