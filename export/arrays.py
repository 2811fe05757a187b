"""numpy conversions shared by the per-model ``frame → graph inputs`` functions of the specs."""
from __future__ import annotations

import cv2
import numpy as np


def rgb_tensor(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3) uint8`` → ``(1, 3, *size) float32`` in [0, 1] (area resampling)."""
    if rgb.shape[:2] != tuple(size):
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def resize_nearest(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` map → ``size`` float32 by nearest-neighbour (0 = invalid stays exact)."""
    if values.shape != tuple(size):
        values = cv2.resize(values, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(values, dtype=np.float32)
