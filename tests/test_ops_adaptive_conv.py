"""adaptive_conv (Cython CPU kernels) against the unfold + einsum reference, its gradients,
the numpy path, its memory use and its input checks."""
import tracemalloc

import numpy as np
import pytest
import torch

from edgegeo.ops import adaptive_conv, adaptive_conv_backward
from edgegeo.ops.reference import adaptive_conv_unfold

# (B, C, H, W, r): W < 2r (border-only input gradient), W < 16 (no full register block),
# W not a multiple of 16 (shifted last block), r = 0 (1x1 windows)
SHAPES = [(1, 1, 5, 5, 0), (2, 3, 9, 13, 1), (1, 4, 20, 37, 2), (2, 2, 17, 40, 3),
          (1, 1, 3, 2, 3)]
TOLERANCE = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def make_inputs(shape, dtype, seed=0):
    batch, channels, height, width, radius = shape
    size = 2 * radius + 1
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, height + 2 * radius, width + 2 * radius, generator=generator,
                    dtype=dtype)
    kernels = torch.randn(batch, height, width, size, size, generator=generator, dtype=dtype)
    return x, kernels


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_and_gradients_match_unfold_reference(shape, dtype):
    x, kernels = make_inputs(shape, dtype)
    grad_out = torch.randn(shape[:4], dtype=dtype, generator=torch.Generator().manual_seed(1))
    results = []
    for op in (adaptive_conv, adaptive_conv_unfold):
        x_, kernels_ = x.clone().requires_grad_(), kernels.clone().requires_grad_()
        out = op(x_, kernels_)
        out.backward(grad_out)
        results.append((out.detach(), x_.grad, kernels_.grad))
    for ours, reference in zip(*results):
        assert ours.shape == reference.shape and ours.dtype == dtype
        torch.testing.assert_close(ours, reference, **TOLERANCE[dtype])


def test_known_values_of_a_shift_kernel():
    # a window with a single 1 at tap (i, j) copies x shifted by (i, j)
    x = torch.arange(2 * 7 * 8, dtype=torch.float64).view(1, 2, 7, 8)
    kernels = torch.zeros(1, 5, 6, 3, 3, dtype=torch.float64)
    kernels[..., 2, 0] = 1
    out = adaptive_conv(x, kernels)
    torch.testing.assert_close(out, x[:, :, 2:7, 0:6], rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 2, 4, 5, 1), (1, 1, 3, 6, 2)])
def test_gradcheck_float64(shape):
    x, kernels = make_inputs(shape, torch.float64, seed=3)
    assert torch.autograd.gradcheck(adaptive_conv, (x.requires_grad_(), kernels.requires_grad_()))


def test_only_requested_gradient_is_computed():
    x, kernels = make_inputs((1, 2, 6, 7, 1), torch.float64)
    kernels.requires_grad_()
    adaptive_conv(x, kernels).sum().backward()
    assert x.grad is None and kernels.grad.shape == kernels.shape


def test_every_kernel_tap_gets_its_gradient():
    # d out / d kernels[b,h,w,i,j] summed over C channels of ones is C, for every tap
    x = torch.ones(2, 3, 8 + 6, 9 + 6, dtype=torch.float64)
    kernels = torch.zeros(2, 8, 9, 7, 7, dtype=torch.float64, requires_grad=True)
    adaptive_conv(x, kernels).sum().backward()
    torch.testing.assert_close(kernels.grad, torch.full_like(kernels, 3.0), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_path_returns_numpy_and_matches_torch(dtype):
    x, kernels = (t.numpy().astype(dtype) for t in make_inputs((2, 3, 6, 21, 2), torch.float64))
    out = adaptive_conv(x, kernels)
    assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == (2, 3, 6, 21)
    expected = adaptive_conv_unfold(torch.from_numpy(x), torch.from_numpy(kernels)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

    grad_out = np.random.default_rng(0).standard_normal(out.shape).astype(dtype)
    grad_x, grad_kernels = adaptive_conv_backward(grad_out, x, kernels)
    x_t = torch.from_numpy(x).requires_grad_()
    kernels_t = torch.from_numpy(kernels).requires_grad_()
    adaptive_conv_unfold(x_t, kernels_t).backward(torch.from_numpy(grad_out))
    assert isinstance(grad_x, np.ndarray) and grad_x.shape == x.shape
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_kernels, kernels_t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_memory_is_linear_in_input_kernels_and_output():
    # numpy allocations are traced by tracemalloc; the unfolded input alone would be 49 x x
    x, kernels = (t.numpy() for t in make_inputs((1, 64, 64, 64, 3), torch.float32))
    out_bytes = 64 * 64 * 64 * 4
    tracemalloc.start()
    adaptive_conv(x, kernels)
    grad_x, grad_kernels = adaptive_conv_backward(np.ones((1, 64, 64, 64), np.float32), x, kernels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < out_bytes + grad_x.nbytes + grad_kernels.nbytes + 2**20  # + thread scratch
    assert peak < 0.1 * 49 * x.nbytes


@pytest.mark.parametrize("case, message", [
    ("x_rank", "x must be 4-D"),
    ("kernels_rank", "kernels must be 5-D"),
    ("not_square", "must be square"),
    ("even_size", "must be odd"),
    ("batch", "batch sizes differ"),
    ("padding", "padded by r=1"),
    ("dtype_mismatch", "dtype mismatch"),
    ("integer_dtype", "must be float32 or float64"),
    ("mixed_kinds", "mix of numpy arrays and torch tensors"),
    ("nan_x", "x contains NaN or inf"),
    ("inf_kernels", "kernels contains NaN or inf"),
    ("overflow", "overflowed"),
])
def test_bad_input_raises_a_clear_error(case, message):
    x, kernels = (t.numpy() for t in make_inputs((1, 2, 5, 6, 1), torch.float32))
    if case == "x_rank":
        x = x[0]
    elif case == "kernels_rank":
        kernels = kernels[0]
    elif case == "not_square":
        kernels = np.zeros((1, 5, 6, 3, 5), np.float32)
    elif case == "even_size":
        kernels = np.zeros((1, 5, 6, 2, 2), np.float32)
    elif case == "batch":
        x = np.concatenate([x, x])
    elif case == "padding":
        x = np.ascontiguousarray(x[:, :, :-1])
    elif case == "dtype_mismatch":
        kernels = kernels.astype(np.float64)
    elif case == "integer_dtype":
        x, kernels = x.astype(np.int32), kernels.astype(np.int32)
    elif case == "mixed_kinds":
        x = torch.from_numpy(x)
    elif case == "nan_x":
        x[0, 1, 0, 0] = np.nan  # a corner: only one window reads it
    elif case == "inf_kernels":
        kernels[0, 4, 5, 2, 2] = np.inf
    elif case == "overflow":
        x[:] = 3e38
        kernels[:] = 1
    with pytest.raises(ValueError, match=message):
        adaptive_conv(x, kernels)


def test_bad_grad_out_raises():
    x, kernels = (t.numpy() for t in make_inputs((1, 2, 5, 6, 1), torch.float32))
    with pytest.raises(ValueError, match="grad_out must have the output's shape"):
        adaptive_conv_backward(np.zeros((1, 2, 5, 5), np.float32), x, kernels)
