"""Depth Anything augmentations: strong perturbations, CutMix boxes, crops."""
import numpy as np
import pytest
import torch

from edgegeo.training.mono.augment import (PerturbSettings, apply_cutmix, colour_jitter,
                                           crop_resize_depth, crop_resize_rgb, cutmix_boxes,
                                           gaussian_blur, random_resized_crop_box,
                                           strong_perturbation)


def images(batch=6, size=(32, 48), seed=0):
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(batch, 3, 1, 1, generator=generator)
    ramp = torch.linspace(0, 1, size[1]).view(1, 1, 1, -1)
    noise = 0.2 * torch.rand(batch, 3, *size, generator=generator)
    return (0.6 * base + 0.3 * ramp + noise).clamp(0, 1)


@pytest.mark.parametrize("perturb", [colour_jitter, gaussian_blur, strong_perturbation])
def test_perturbations_change_images_but_keep_shape_dtype_range(perturb):
    x = images()
    settings = PerturbSettings(jitter_p=1.0, blur_p=1.0, grey_p=0.0)
    out = perturb(x, torch.Generator().manual_seed(1), settings)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    changed = (out - x).abs().flatten(1).mean(1)
    assert torch.all(changed > 1e-3)
    # Seeded: the same generator seed gives the same result.
    again = perturb(x, torch.Generator().manual_seed(1), settings)
    torch.testing.assert_close(out, again)


def test_probabilities_zero_leave_images_untouched():
    x = images()
    none = PerturbSettings(jitter_p=0.0, grey_p=0.0, blur_p=0.0)
    torch.testing.assert_close(strong_perturbation(x, torch.Generator().manual_seed(0), none), x)


def test_grey_makes_channels_equal():
    x = images()
    out = colour_jitter(x, torch.Generator().manual_seed(0),
                        PerturbSettings(jitter_p=0.0, grey_p=1.0))
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])


def test_blur_smooths():
    x = images()
    out = gaussian_blur(x, torch.Generator().manual_seed(0),
                        PerturbSettings(blur_p=1.0, blur_sigma=(1.5, 2.0)))
    roughness = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean()   # noqa: E731
    assert roughness(out) < 0.7 * roughness(x)


def test_cutmix_boxes_lie_on_the_patch_grid_and_match_tokens():
    generator = torch.Generator().manual_seed(3)
    box, token_box, partner = cutmix_boxes(8, 64, 96, 16, generator,
                                           PerturbSettings(cutmix_p=1.0))
    assert box.shape == (8, 1, 64, 96) and box.dtype == torch.bool
    assert token_box.shape == (8, 4 * 6)
    assert torch.equal(partner, (torch.arange(8) + 1) % 8)
    for i in range(8):
        assert box[i].any()
        # Every 16x16 patch is all-in or all-out, and agrees with the token mask.
        patches = box[i, 0].view(4, 16, 6, 16).permute(0, 2, 1, 3).reshape(24, 256)
        assert torch.all(patches.all(1) | ~patches.any(1))
        assert torch.equal(patches.all(1), token_box[i])
    x = images(8, (64, 96))
    mixed = apply_cutmix(x, box, partner)
    torch.testing.assert_close(mixed[0][box[0].expand(3, -1, -1)],
                               x[1][box[0].expand(3, -1, -1)])
    torch.testing.assert_close(mixed[0][~box[0].expand(3, -1, -1)],
                               x[0][~box[0].expand(3, -1, -1)])


def test_cutmix_probability():
    generator = torch.Generator().manual_seed(0)
    box, _, _ = cutmix_boxes(400, 32, 32, 16, generator, PerturbSettings(cutmix_p=0.5))
    fraction = box.flatten(1).any(1).float().mean()
    assert 0.4 < fraction < 0.6
    box, _, _ = cutmix_boxes(10, 32, 32, 16, generator, PerturbSettings(cutmix_p=0.0))
    assert not box.any()


def test_random_resized_crop_keeps_depth_unblended():
    rng = np.random.default_rng(0)
    depth = np.zeros((40, 60), np.float32)
    depth[:, 30:] = 2.0                                     # half invalid (0), half 2 m
    rgb = np.zeros((40, 60, 3), np.uint8)
    for _ in range(20):
        box = random_resized_crop_box(40, 60, (16, 24), rng, (0.3, 1.0))
        top, left, h, w = box
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 60
        out = crop_resize_depth(depth, box, (16, 24), flip=bool(rng.random() < 0.5))
        assert out.shape == (1, 16, 24) and set(out.unique().tolist()) <= {0.0, 2.0}
        image = crop_resize_rgb(rgb, box, (16, 24), flip=False)
        assert image.shape == (3, 16, 24) and image.dtype == torch.float32


def test_camera_augment_keeps_shape_is_seeded_and_changes_pixels():
    from edgegeo.training.mono.augment import camera_augment

    rng = np.random.default_rng(0)
    image = (rng.random((40, 60, 3)) * 200 + 20).astype(np.uint8)
    outs = [camera_augment(image, np.random.default_rng(seed)) for seed in (1, 1, 2)]
    assert all(o.shape == image.shape and o.dtype == np.uint8 for o in outs)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert np.abs(outs[0].astype(int) - image).mean() > 1
    assert np.abs(outs[0].astype(int) - outs[2]).mean() > 1


def test_fourier_style_swaps_low_frequency_amplitudes_and_keeps_the_rest():
    from edgegeo.training.mono.augment import fourier_style

    image, style = images(batch=2, size=(40, 48))
    out = fourier_style(image, style, beta=0.05)                   # window half-size 2
    assert out.shape == image.shape and out.dtype == image.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.allclose(fourier_style(image, image, 0.05), image, atol=1e-5)
    # The mean colour (DC) is the style's; high frequencies (edges) stay the image's.
    torch.testing.assert_close(out.mean((1, 2)), style.mean((1, 2)), atol=2e-2, rtol=0)
    high = torch.ones(40, 48, dtype=torch.bool)
    high[:3], high[-2:], high[:, :3], high[:, -2:] = False, False, False, False
    unclamped = torch.fft.fft2(out).abs()[:, high]
    torch.testing.assert_close(unclamped, torch.fft.fft2(image).abs()[:, high], atol=0.5, rtol=0.05)
    with pytest.raises(ValueError, match="must both be"):
        fourier_style(image, style[:, :20], 0.05)


def test_labelled_batch_with_photo_style_keeps_labels_and_changes_colours():
    from edgegeo.training.mono.data import LabelledFrames, labelled_batch

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
    depth = rng.uniform(1, 5, (3, 48, 64)).astype(np.float32)
    frames = LabelledFrames(rgb, depth, "test frames")
    photo = np.full((60, 80, 3), (250, 20, 20), dtype=np.uint8)      # a red "photo"
    plain = labelled_batch(frames, 4, (32, 48), 7, (0.5, 1.0))
    styled = labelled_batch(frames, 4, (32, 48), 7, (0.5, 1.0), styles=[photo], style_p=1.0)
    none = labelled_batch(frames, 4, (32, 48), 7, (0.5, 1.0), styles=[photo], style_p=0.0)
    assert torch.equal(none["image"], plain["image"])
    red_share = styled["image"][:, 0].mean() - styled["image"][:, 1:].mean()
    assert red_share > plain["image"][:, 0].mean() - plain["image"][:, 1:].mean() + 0.2
    assert torch.equal(styled["valid"][0], plain["valid"][0])
