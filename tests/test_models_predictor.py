"""MonoDepthPredictor: any image size in, disparity at that size out; clear errors."""
import numpy as np
import pytest
import torch

from edgegeo.models.mono_depth import (MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor,
                                       working_size)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MonoDepthNet(MonoDepthNetConfig.tiny()).eval()


def random_image(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize("resolution", [64, (48, 96), 100])
@pytest.mark.parametrize("size", [(101, 77), (77, 101), (16, 16), (5, 70)])
def test_returns_the_input_size(model, size, resolution):
    disparity = MonoDepthPredictor(model, resolution=resolution)(random_image(*size))
    assert disparity.shape == size and disparity.dtype == np.float32
    assert disparity.min() >= 0 and np.isfinite(disparity).all()


def test_equals_the_network_when_no_resize_or_pad_is_needed(model):
    image = random_image(64, 96)
    disparity = MonoDepthPredictor(model, resolution=64)(image)
    with torch.no_grad():
        expected = model(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
    np.testing.assert_allclose(disparity, expected[0, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_padding_does_not_leak_into_the_output(model):
    # 64x90 pads to 64x96; the result must be the crop of that input, resized to 90 columns.
    image = random_image(64, 90)
    disparity = MonoDepthPredictor(model, resolution=64)(image)
    padded = np.pad(image, ((0, 0), (0, 6), (0, 0)), mode="edge")
    with torch.no_grad():
        full = model(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)
    np.testing.assert_allclose(disparity, full[0, 0, :, :90].numpy(), rtol=1e-5, atol=1e-6)


def test_working_size_numbers():
    # Short side to 64: 101x77 → 84x64, padded to 96x64.
    assert working_size(101, 77, 64, 16) == ((84, 64), (96, 64))
    assert working_size(480, 640, 256, 16) == ((256, 341), (256, 352))
    # Fixed input: fit inside, keep the aspect ratio.
    assert working_size(480, 640, (96, 128), 16) == ((96, 128), (96, 128))
    assert working_size(100, 300, (64, 64), 16) == ((21, 64), (64, 64))
    with pytest.raises(ValueError, match="multiples of the patch size 16"):
        working_size(10, 10, (60, 64), 16)
    with pytest.raises(ValueError, match="positive"):
        working_size(10, 10, 0, 16)


@pytest.mark.parametrize("image, message", [
    (np.zeros((32, 32, 3), np.float32), "uint8"),
    (np.zeros((32, 32), np.uint8), "grey"),
    (np.zeros((32, 32, 4), np.uint8), r"\(H, W, 3\)"),
    (np.zeros((0, 32, 3), np.uint8), "empty"),
    (np.zeros((32, 32, 3, 1), np.uint8), r"\(H, W, 3\)"),
    ([[0, 0, 0]], "numpy array"),
])
def test_bad_images_are_value_errors(model, image, message):
    with pytest.raises(ValueError, match=message):
        MonoDepthPredictor(model, resolution=32)(image)


def test_bad_construction(model):
    with pytest.raises(ValueError, match="patch_size"):
        MonoDepthPredictor(torch.nn.Identity())
    with pytest.raises(ValueError, match="multiples of the patch size"):
        MonoDepthPredictor(model, resolution=(50, 64))
    with pytest.raises(ValueError, match=r"int or \(H, W\)"):
        MonoDepthPredictor(model, resolution=(64, 64, 64))


def test_an_elongated_image_is_refused_not_blown_up(model):
    """A 1000x8 image at short side 256 would be a 32000x256 network input (a hang): refused
    with the ratio named; into a fixed-size input it is fitted as usual."""
    with pytest.raises(ValueError, match="aspect ratio of 125:1"):
        MonoDepthPredictor(model, resolution=256)(random_image(1000, 8))
    fixed = MonoDepthPredictor(model, resolution=(48, 96))(random_image(8, 1000))
    assert fixed.shape == (8, 1000)
