"""Helpers shared by several models: the image normalisation constants and the check of an
``(H, W, 3) uint8`` RGB input."""
from __future__ import annotations

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_rgb_image(image) -> np.ndarray:
    """Validate an ``(H, W, 3) uint8`` RGB image and return it as a numpy array.

    Raises:
        ValueError: not a numpy array, wrong dtype, a grey ``(H, W)`` image, wrong channel
            count, or an empty image.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (H, W, 3) uint8 RGB, got "
                         f"{type(image).__name__}")
    if image.ndim == 2:
        raise ValueError(f"image {image.shape} is grey (H, W); pass RGB (H, W, 3), e.g. "
                         f"np.repeat(image[..., None], 3, axis=2)")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image
