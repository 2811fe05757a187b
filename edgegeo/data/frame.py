"""The frame record every source of images in edgegeo yields (synthetic engine, TUM/ScanNet
readers, cameras), in the units of ``conventions.md``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    """One camera frame.

    Attributes:
        rgb: ``(H,W,3) uint8`` RGB image.
        K: ``(3,3) float64`` intrinsics in pixels of ``rgb``.
        depth: ``(H,W) float32`` metres along the optical axis, 0 = invalid; None if unknown.
        world_T_cam: ``(4,4) float64`` camera-to-world pose; None if unknown.
        normals: ``(H,W,3) float32`` unit surface normals in the camera frame (OpenCV axes),
            0 where depth is invalid; None if unknown.
        instance: ``(H,W) int32`` object instance id, 0 = background / no hit; None if unknown.
        timestamp: seconds (source clock); None if unknown.
    """

    rgb: np.ndarray
    K: np.ndarray
    depth: np.ndarray | None = None
    world_T_cam: np.ndarray | None = None
    normals: np.ndarray | None = None
    instance: np.ndarray | None = None
    timestamp: float | None = None

    @property
    def hw(self) -> tuple[int, int]:
        """Image size ``(H, W)`` in pixels."""
        return self.rgb.shape[0], self.rgb.shape[1]
