"""adaptive_conv and joint_bilateral_upsample on strided inputs (slices, permuted / transposed
views, Fortran order, negative numpy strides): same results as on C-contiguous copies, and
gradients that flow back, exact, to the original (base) tensors."""
import numpy as np
import pytest
import torch

from edgegeo.ops import adaptive_conv, joint_bilateral_upsample


def _generator(seed):
    return torch.Generator().manual_seed(seed)


def strided_conv_inputs(layout, dtype=torch.float64, seed=0, shape=(2, 3, 5, 6, 1)):
    """``(x, kernels)`` of ``shape = (B, C, H, W, r)``, both non-C-contiguous views of bigger /
    differently ordered base tensors, and the bases (``requires_grad`` left to the caller)."""
    batch, channels, height, width, radius = shape
    padded_h, padded_w, size = height + 2 * radius, width + 2 * radius, 2 * radius + 1
    generator = _generator(seed)
    if layout == "slice":
        # a corner of a bigger tensor (gaps between rows, planes and windows)
        x_base = torch.randn(batch, channels + 1, padded_h + 1, padded_w + 2, dtype=dtype,
                             generator=generator)
        k_base = torch.randn(batch, height + 1, width + 1, size + 1, size, dtype=dtype,
                             generator=generator)

        def views(x_b, k_b):
            return x_b[:, 1:, 1:, 1:-1], k_b[:, 1:, :-1, 1:]
    elif layout == "permuted":
        # channels-last x seen as (B, C, H, W); kernels stored (K, K, B, H, W)
        x_base = torch.randn(batch, padded_h, padded_w, channels, dtype=dtype,
                             generator=generator)
        k_base = torch.randn(size, size, batch, height, width, dtype=dtype, generator=generator)

        def views(x_b, k_b):
            return x_b.permute(0, 3, 1, 2), k_b.permute(2, 3, 4, 0, 1)
    elif layout == "transposed":
        # x and kernels with their two spatial axes swapped (windows transposed too)
        x_base = torch.randn(batch, channels, padded_w, padded_h, dtype=dtype,
                             generator=generator)
        k_base = torch.randn(batch, width, height, size, size, dtype=dtype, generator=generator)

        def views(x_b, k_b):
            return x_b.transpose(2, 3), k_b.transpose(1, 2).transpose(3, 4)
    else:
        raise AssertionError(layout)
    return x_base, k_base, views


LAYOUTS = ["slice", "permuted", "transposed"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_adaptive_conv_forward_on_views_equals_contiguous_copies(layout, dtype):
    x_base, k_base, views = strided_conv_inputs(layout, dtype)
    x, kernels = views(x_base, k_base)
    assert not x.is_contiguous() and not kernels.is_contiguous()
    out = adaptive_conv(x, kernels)
    expected = adaptive_conv(x.contiguous(), kernels.contiguous())
    assert out.shape == expected.shape == (2, 3, 5, 6) and out.dtype == dtype
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert torch.equal(x, views(x_base, k_base)[0])  # inputs untouched


@pytest.mark.parametrize("layout", LAYOUTS)
def test_adaptive_conv_gradients_on_views_equal_contiguous_copies(layout):
    x_base, k_base, views = strided_conv_inputs(layout, seed=1)
    grad_out = torch.randn(2, 3, 5, 6, dtype=torch.float64, generator=_generator(2))
    grads = []
    for strided in (True, False):
        x_b, k_b = x_base.clone().requires_grad_(), k_base.clone().requires_grad_()
        x, kernels = views(x_b, k_b)
        if not strided:
            x, kernels = x.contiguous(), kernels.contiguous()
        adaptive_conv(x, kernels).backward(grad_out)
        assert x_b.grad.shape == x_b.shape and k_b.grad.shape == k_b.shape
        grads.append((x_b.grad, k_b.grad))
    for ours, expected in zip(*grads):
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    if layout == "slice":  # base elements outside the views get exactly zero gradient
        x_grad, k_grad = grads[0]
        assert (x_grad[:, 0] == 0).all() and (x_grad[:, :, 0] == 0).all()
        assert (x_grad[..., [0, -1]] == 0).all() and (k_grad[:, :, -1] == 0).all()
        assert (k_grad[:, 0] == 0).all() and (k_grad[..., 0, :] == 0).all()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_adaptive_conv_gradcheck_through_views(layout):
    # B=1, C=2, H=W=4, r=1: the views are taken inside the checked function, from the bases
    x_base, k_base, views = strided_conv_inputs(layout, seed=3, shape=(1, 2, 4, 4, 1))

    def op(x_b, k_b):
        x, kernels = views(x_b, k_b)
        assert not x.is_contiguous() and not kernels.is_contiguous()
        return adaptive_conv(x, kernels)

    assert torch.autograd.gradcheck(op, (x_base.requires_grad_(), k_base.requires_grad_()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_conv_numpy_strided_arrays(dtype):
    rng = np.random.default_rng(4)
    x_base = rng.standard_normal((2, 3, 9, 10)).astype(dtype)
    k_base = rng.standard_normal((2, 7, 8, 3, 3)).astype(dtype)
    cases = [
        (np.asfortranarray(x_base), np.asfortranarray(k_base)),  # Fortran order
        (x_base[:, :, ::-1], k_base[:, :, ::-1, :, ::-1]),  # negative strides
        (x_base.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3),  # permuted storage
         k_base.transpose(3, 4, 0, 1, 2).copy().transpose(2, 3, 4, 0, 1)),
    ]
    for x, kernels in cases:
        assert not x.flags.c_contiguous and not kernels.flags.c_contiguous
        out = adaptive_conv(x, kernels)
        assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == (2, 3, 7, 8)
        expected = adaptive_conv(np.ascontiguousarray(x), np.ascontiguousarray(kernels))
        np.testing.assert_array_equal(out, expected)


def test_adaptive_conv_checks_still_apply_to_views():
    x_base, k_base, views = strided_conv_inputs("slice")
    x, kernels = views(x_base, k_base)
    with pytest.raises(ValueError, match="padded by r=1"):
        adaptive_conv(x[:, :, :-1], kernels)
    with pytest.raises(ValueError, match="dtype mismatch"):
        adaptive_conv(x, kernels.float())
    with pytest.raises(ValueError, match="must be float32 or float64"):
        adaptive_conv(x.int(), kernels.int())
    x_base[0, 1, 1, 1] = float("nan")  # x[0, 0, 0, 0]: a corner, read by one window only
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        adaptive_conv(x, kernels)


def jbu_inputs(dtype=torch.float64, seed=5):
    """Contiguous ``(2, 2, 4, 5)`` src and ``(2, 3, 12, 15)`` guide (scale 3) and strided
    views with the same values: src a slice of a bigger tensor, guide a channels-last permute."""
    generator = _generator(seed)
    src_base = torch.rand(2, 4, 6, 8, dtype=dtype, generator=generator) + 0.5
    src_base[0, 1, 2, 3] = 0  # an invalid pixel, inside the view (its [0, 0, 1, 1])
    guide_base = torch.rand(2, 12, 15, 3, dtype=dtype, generator=generator)

    def views(s_b, g_b):
        return s_b[:, 1:3, 1:-1, 2:-1], g_b.permute(0, 3, 1, 2)
    return src_base, guide_base, views


@pytest.mark.parametrize("mask_zeros", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_jbu_on_strided_tensors_equals_contiguous(dtype, mask_zeros):
    src_base, guide_base, views = jbu_inputs(dtype)
    src, guide = views(src_base, guide_base)
    assert not src.is_contiguous() and not guide.is_contiguous()
    out = joint_bilateral_upsample(src, guide, 3, radius=2, mask_zeros=mask_zeros)
    expected = joint_bilateral_upsample(src.contiguous(), guide.contiguous(), 3, radius=2,
                                        mask_zeros=mask_zeros)
    assert out.shape == (2, 2, 12, 15) and out.dtype == dtype
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_jbu_gradients_through_strided_views():
    src_base, guide_base, views = jbu_inputs(seed=6)
    src_base[0, 1, 2, 3] = 0.7  # no zero (mask_zeros' threshold is not differentiable)
    grad_out = torch.randn(2, 2, 12, 15, dtype=torch.float64, generator=_generator(7))
    grads = []
    for strided in (True, False):
        s_b, g_b = src_base.clone().requires_grad_(), guide_base.clone().requires_grad_()
        src, guide = views(s_b, g_b)
        if not strided:
            src, guide = src.contiguous(), guide.contiguous()
        joint_bilateral_upsample(src, guide, 3, radius=2).backward(grad_out)
        grads.append((s_b.grad, g_b.grad))
    for ours, expected in zip(*grads):
        torch.testing.assert_close(ours, expected, rtol=0, atol=0)
    assert (grads[0][0][:, [0, 3]] == 0).all()  # channels outside the src view


def test_jbu_gradcheck_through_strided_views():
    generator = _generator(8)
    src_base = (torch.rand(1, 2, 3, 3, dtype=torch.float64, generator=generator) + 0.5)
    guide_base = torch.rand(1, 4, 4, 3, dtype=torch.float64, generator=generator)

    def upsample(s_b, g_b):
        src, guide = s_b[:, 1:, 1:, :-1], g_b.permute(0, 3, 2, 1)  # (1,1,2,2), (1,3,4,4)
        assert not src.is_contiguous() and not guide.is_contiguous()
        return joint_bilateral_upsample(src, guide, 2, radius=1, sigma_spatial=1.0,
                                        sigma_range=0.5)

    assert torch.autograd.gradcheck(upsample, (src_base.requires_grad_(),
                                               guide_base.requires_grad_()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jbu_on_strided_numpy_arrays_equals_contiguous(dtype):
    rng = np.random.default_rng(9)
    src_base = (rng.random((2, 2, 6, 7)) + 0.5).astype(dtype)
    guide_base = rng.random((2, 15, 12, 3)).astype(dtype)
    # negative strides (torch.from_numpy refuses them) and a transposed channels-last guide
    src, guide = src_base[:, ::-1, 1:-1, ::-1][..., 1:-1], guide_base.transpose(0, 3, 2, 1)
    assert not src.flags.c_contiguous and not guide.flags.c_contiguous
    out = joint_bilateral_upsample(src, guide, 3, radius=2)
    expected = joint_bilateral_upsample(np.ascontiguousarray(src), np.ascontiguousarray(guide),
                                        3, radius=2)
    assert isinstance(out, np.ndarray) and out.shape == (2, 2, 12, 15) and out.dtype == dtype
    np.testing.assert_array_equal(out, expected)


def test_jbu_image_api_on_strided_numpy_arrays():
    rng = np.random.default_rng(10)
    depth_base = (rng.random((20, 23)) + 1).astype(np.float32)
    image_base = rng.integers(0, 256, (3, 64, 80), dtype=np.uint8)
    depth, image = depth_base[2:-2, ::-1][:, 1:-2], image_base.transpose(1, 2, 0)[::-1]
    assert depth.shape == (16, 20) and image.shape == (64, 80, 3)
    out = joint_bilateral_upsample(depth, image, 4)
    expected = joint_bilateral_upsample(np.ascontiguousarray(depth), np.ascontiguousarray(image),
                                        4)
    np.testing.assert_array_equal(out, expected)
