"""Guided upsampling of low-resolution depth to the frame's resolution."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..packet import BadFrame, Packet


class UpsampleStage:
    """Bring low-resolution ``packet.depth`` to the frame's resolution, guided by the RGB
    image; a no-op when depth is already full resolution. A packet an earlier stage skipped
    (no depth, see :meth:`Packet.skip`) passes on.

    Args:
        upsampler: ``(depth (h,w) float32 m, rgb (H,W,3) uint8) → (H,W) float32 m``, e.g. the
            learned ``edgegeo.load("jbu")``; default: classic joint bilateral upsampling
            (``edgegeo.ops.joint_bilateral_upsample`` with ``radius``, ``sigma_spatial``,
            ``sigma_range``).
    """

    name = "upsample"

    def __init__(self, upsampler: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 radius: int | None = None, sigma_spatial: float | None = None,
                 sigma_range: float = 0.1):
        self.upsampler = upsampler
        self.radius, self.sigma_spatial, self.sigma_range = radius, sigma_spatial, sigma_range

    def __call__(self, packet: Packet) -> Packet:
        from edgegeo.ops import joint_bilateral_upsample

        depth = packet.depth
        if depth is None:
            return packet.pass_without_depth(self.name, "upsample")
        hw = packet.frame.hw
        if depth.shape == hw:
            return packet
        if self.upsampler is not None:
            result = np.asarray(self.upsampler(depth.astype(np.float32), packet.frame.rgb))
            if result.shape != hw or not np.isfinite(result).all():
                raise BadFrame(f"upsampler returned {result.shape} (expected {hw}) or NaN/inf")
            packet.depth = np.maximum(result.astype(np.float32, copy=False), 0)
            return packet
        scale = hw[1] / depth.shape[1]
        if round(depth.shape[0] * scale) != hw[0] or round(depth.shape[1] * scale) != hw[1]:
            raise BadFrame(f"depth {depth.shape} is not a uniform downscale of {hw}")
        radius = self.radius or max(2, int(np.ceil(scale)))
        sigma = self.sigma_spatial or max(1.0, scale / 2)
        packet.depth = joint_bilateral_upsample(depth.astype(np.float32), packet.frame.rgb,
                                                scale, radius=radius, sigma_spatial=sigma,
                                                sigma_range=self.sigma_range)
        return packet
