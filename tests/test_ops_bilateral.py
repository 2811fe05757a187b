"""joint_bilateral_upsample: constants, edges, invalid pixels, gradients, input checks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgegeo.ops import joint_bilateral_upsample


def random_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def step_scene(edge_column, size=64, scale=4):
    """Guide with a vertical dark/bright step at ``edge_column``, depth 1 m / 2 m on either
    side, and the depth area-averaged to low resolution."""
    guide = np.full((size, size, 3), 50, np.uint8)
    guide[:, edge_column:] = 200
    row = np.where(np.arange(size) < edge_column, 1.0, 2.0).astype(np.float32)
    truth = np.repeat(row[None], size, axis=0)
    low = truth.reshape(size // scale, scale, size // scale, scale).mean(axis=(1, 3))
    return guide, truth, low


def bilinear(low, size):
    return F.interpolate(torch.from_numpy(low)[None, None], size=size, mode="bilinear",
                         align_corners=False)[0, 0].numpy()


def test_constant_map_stays_constant_numpy_api():
    depth = np.full((16, 20), 3.5, np.float32)
    out = joint_bilateral_upsample(depth, random_image(64, 80), 4)
    assert isinstance(out, np.ndarray) and out.shape == (64, 80) and out.dtype == np.float32
    np.testing.assert_allclose(out, 3.5, rtol=0, atol=2e-6)


def test_constant_map_stays_constant_tensor_batch():
    src = torch.full((2, 3, 10, 12), -0.25, dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    guide = torch.rand(2, 3, 30, 36, dtype=torch.float64, generator=generator)
    out = joint_bilateral_upsample(src, guide, 3, radius=2, mask_zeros=False)
    assert out.shape == (2, 3, 30, 36) and out.dtype == torch.float64
    torch.testing.assert_close(out, torch.full_like(out, -0.25), rtol=0, atol=1e-14)


def test_step_edge_aligned_with_low_res_grid_is_reproduced_exactly():
    guide, truth, low = step_scene(edge_column=32)
    out = joint_bilateral_upsample(low, guide, 4, radius=3, sigma_spatial=2.0)
    np.testing.assert_allclose(out, truth, rtol=0, atol=1e-6)
    band = slice(26, 38)
    assert np.abs(bilinear(low, (64, 64)) - truth)[:, band].mean() > 0.08  # bilinear blurs it


def test_step_edge_inside_a_low_res_pixel_beats_bilinear():
    # the edge cuts low-res column 7 (pixels 28..31): that sample is a 1.5 m mix
    guide, truth, low = step_scene(edge_column=30)
    out = joint_bilateral_upsample(low, guide, 4, radius=3, sigma_spatial=2.0)
    band = slice(24, 36)
    error_jbu = np.abs(out - truth)[:, band].mean()
    error_bilinear = np.abs(bilinear(low, (64, 64)) - truth)[:, band].mean()
    assert error_bilinear == pytest.approx(1 / 6, abs=1e-6)
    assert error_jbu < 0.65 * error_bilinear
    # sharp: no value between the sides away from the mixed sample's own columns
    np.testing.assert_allclose(out[:, 24:29], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 34:40], 2.0, atol=1e-6)


def test_invalid_zeros_do_not_bleed_into_valid_pixels():
    depth = np.full((16, 16), 2.0, np.float32)
    depth[4:12, 4:12] = 0  # an 8x8 hole of invalid pixels = 32x32 at high resolution
    guide = random_image(64, 64, seed=1)
    out = joint_bilateral_upsample(depth, guide, 4, radius=3)
    reached = out != 0
    np.testing.assert_allclose(out[reached], 2.0, rtol=0, atol=1e-6)  # never pulled to 0
    assert reached[:16].all() and reached[:, :16].all()  # valid surroundings all kept
    # pixels farther than the radius from every valid sample have no valid tap: exactly 0
    assert (out[24:40, 24:40] == 0).all()
    # without masking, the zeros are averaged in along the rim of the hole
    unmasked = joint_bilateral_upsample(depth, guide, 4, radius=3, mask_zeros=False)
    assert ((unmasked > 0.1) & (unmasked < 1.9)).sum() > 40


def test_gradients_flow_to_src_and_guide():
    generator = torch.Generator().manual_seed(2)
    src = (torch.rand(1, 2, 3, 3, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()
    guide = torch.rand(1, 3, 6, 6, dtype=torch.float64, generator=generator).requires_grad_()
    def upsample(s, g):
        return joint_bilateral_upsample(s, g, 2, radius=1, sigma_spatial=1.0, sigma_range=0.5)

    assert torch.autograd.gradcheck(upsample, (src, guide))


@pytest.mark.parametrize("case, message", [
    ("guide_size", "gives 64x64"),
    ("radius_too_small", "use radius >= 2"),
    ("scale_below_one", "scale must be"),
    ("negative_sigma", "sigma_range must be"),
    ("float_guide_for_image", r"\(H, W, 3\) uint8"),
    ("uint8_guide_for_batch", "must be float RGB"),
    ("mixed_kinds", "must both be numpy arrays or both torch tensors"),
    ("nan_src", "src contains NaN or inf"),
    ("integer_src", "src must be float32 or float64"),
    ("src_rank", "src must be"),
])
def test_bad_input_raises_a_clear_error(case, message):
    depth, guide, scale, kwargs = np.ones((16, 16), np.float32), random_image(64, 64), 4, {}
    if case == "guide_size":
        guide = random_image(60, 64)
    elif case == "radius_too_small":
        kwargs["radius"] = 1
    elif case == "scale_below_one":
        scale = 0.5
    elif case == "negative_sigma":
        kwargs["sigma_range"] = -1.0
    elif case == "float_guide_for_image":
        guide = guide.astype(np.float32) / 255
    elif case == "uint8_guide_for_batch":
        depth, guide = depth[None, None], guide.transpose(2, 0, 1)[None]
    elif case == "mixed_kinds":
        depth, guide = torch.from_numpy(depth[None, None]), guide.transpose(2, 0, 1)[None] / 255.0
    elif case == "nan_src":
        depth[3, 3] = np.nan
    elif case == "integer_src":
        depth = depth.astype(np.int32)
    elif case == "src_rank":
        depth = depth[None]
    with pytest.raises(ValueError, match=message):
        joint_bilateral_upsample(depth, guide, scale, **kwargs)
