"""Depth Anything losses: affine-invariant (MiDaS) loss, its CutMix form, feature alignment."""
import pytest
import torch

from edgegeo.training.mono.losses import (affine_invariant_loss, cutmix_affine_invariant_loss,
                                          feature_alignment_loss, normalize_disparity)


def maps(seed=0, batch=3, size=(12, 16)):
    generator = torch.Generator().manual_seed(seed)
    pred = torch.rand(batch, 1, *size, generator=generator) + 0.1
    target = torch.rand(batch, 1, *size, generator=generator) + 0.1
    mask = torch.rand(batch, 1, *size, generator=generator) > 0.3
    return pred, target, mask


def test_normalisation_is_median_and_mean_absolute_deviation():
    d = torch.tensor([[1.0, 2.0, 4.0, 9.0, 100.0]])
    mask = torch.tensor([[True, True, True, True, False]])
    out = normalize_disparity(d, mask)
    median = 2.0                                            # lower median of 1, 2, 4, 9
    mad = (1 + 0 + 2 + 7) / 4
    torch.testing.assert_close(out[0, :4], (d[0, :4] - median) / mad, atol=1e-5, rtol=1e-5)
    assert out[0, 4] == 0


def test_zero_for_a_perfect_prediction_and_invariant_to_scale_and_shift():
    pred, target, mask = maps()
    assert torch.all(affine_invariant_loss(target, target, mask) == 0)
    loss = affine_invariant_loss(pred, target, mask)
    assert torch.all(loss > 0.1)
    for scale, shift in [(3.0, 2.0), (0.01, -5.0), (250.0, 0.0)]:
        torch.testing.assert_close(affine_invariant_loss(scale * pred + shift, target, mask),
                                   loss, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(affine_invariant_loss(pred, scale * target + shift, mask),
                                   loss, atol=1e-4, rtol=1e-4)
        assert affine_invariant_loss(scale * target + shift, target, mask).max() < 1e-4


def test_mask_excludes_pixels():
    pred, target, mask = maps(1)
    garbage = torch.where(mask, pred, torch.full_like(pred, 1e4))
    torch.testing.assert_close(affine_invariant_loss(garbage, target, mask),
                               affine_invariant_loss(pred, target, mask))
    target_garbage = torch.where(mask, target, torch.full_like(target, -7.0))
    torch.testing.assert_close(affine_invariant_loss(pred, target_garbage, mask),
                               affine_invariant_loss(pred, target, mask))
    # Gradient only reaches the masked-in pixels.
    pred = pred.clone().requires_grad_(True)
    affine_invariant_loss(pred, target, mask).sum().backward()
    assert torch.all(pred.grad[~mask] == 0) and pred.grad[mask].abs().sum() > 0
    # An image without valid pixels contributes 0, not NaN.
    empty = torch.zeros_like(mask)
    assert torch.all(affine_invariant_loss(pred.detach(), target, empty) == 0)


def test_cutmix_loss_equals_the_manual_per_region_computation():
    pred, a, _ = maps(2, batch=2)
    b = torch.rand_like(a) + 0.1
    box = torch.zeros_like(pred, dtype=torch.bool)
    box[0, :, 2:8, 4:12] = True                  # 6·8 = 48 of 192 pixels
    loss = cutmix_affine_invariant_loss(pred, a, b, box)
    for i in range(2):
        inside, outside = box[i, 0], ~box[i, 0]
        area_in = inside.float().mean()
        manual_out = _manual(pred[i, 0][outside], a[i, 0][outside])
        manual_in = _manual(pred[i, 0][inside], b[i, 0][inside]) if inside.any() else 0.0
        expected = (1 - area_in) * manual_out + area_in * manual_in
        torch.testing.assert_close(loss[i], torch.as_tensor(expected, dtype=loss.dtype),
                                   atol=1e-5, rtol=1e-5)
    # Image 1 has no box: the plain loss against its own pseudo-label.
    torch.testing.assert_close(loss[1], affine_invariant_loss(pred, a)[1])


def _manual(p, t):
    def norm(x):
        median = x.sort().values[(x.numel() - 1) // 2]
        return (x - median) / (x - median).abs().mean().clamp_min(1e-6)
    return (norm(p) - norm(t)).abs().mean()


def test_feature_alignment_is_zero_for_identical_features():
    features = torch.randn(2, 20, 16)
    assert torch.all(feature_alignment_loss(features, features.clone()) == 0)


def test_feature_alignment_ignores_patches_above_the_margin():
    frozen = torch.randn(1, 4, 8)
    student = frozen.clone()
    noise = torch.randn(1, 2, 8)
    student[:, 2:] = -frozen[:, 2:] + 0.1 * noise          # patches 2, 3 far from the target
    student[:, 1] = frozen[:, 1] + 0.05 * torch.randn(8)   # close: cos > 0.85
    student.requires_grad_(True)
    loss = feature_alignment_loss(student, frozen, margin=0.85)
    cos = torch.nn.functional.cosine_similarity(student, frozen, dim=-1)[0]
    assert cos[0] > 0.85 and cos[1] > 0.85 and cos[2] < 0.85 and cos[3] < 0.85
    torch.testing.assert_close(loss[0], (1 - cos[2:]).mean())
    loss.sum().backward()
    assert torch.all(student.grad[0, :2] == 0)                # above the margin: no gradient
    assert student.grad[0, 2:].abs().sum() > 0
    # margin 1 keeps every patch (except exact matches, cos = 1).
    torch.testing.assert_close(feature_alignment_loss(student.detach(), frozen, 1.0)[0],
                               (1 - cos[cos < 1]).mean().detach())


def test_shape_errors():
    with pytest.raises(ValueError):
        affine_invariant_loss(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 5))
    with pytest.raises(ValueError):
        feature_alignment_loss(torch.rand(1, 4, 8), torch.rand(1, 4, 9))


def test_gradient_matching_is_affine_invariant_and_sees_a_misplaced_edge():
    from edgegeo.training.mono.losses import gradient_matching_loss

    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0
    mask = torch.ones_like(step, dtype=torch.bool)
    assert float(gradient_matching_loss(3.0 * step + 2.0, step, mask)) == pytest.approx(0, abs=1e-6)
    shifted = torch.zeros_like(step)
    shifted[..., 10:] = 1.0
    one_scale = gradient_matching_loss(shifted, step, mask, scales=1)
    # Normalised (median 0): the step is 0 | 2 (MAD 0.5), the shifted step 0 | 8/3 (MAD 6/16);
    # the residual jumps by 2 and 8/3 in every row: (2 + 8/3) × 16 rows / 480 valid pairs.
    assert float(one_scale) == pytest.approx((2 + 8 / 3) * 16 / (2 * 16 * 15), rel=1e-5)
    assert float(gradient_matching_loss(shifted, step, mask, scales=4)) > float(one_scale)
    with pytest.raises(ValueError, match="scales"):
        gradient_matching_loss(step, step, mask, scales=0)
