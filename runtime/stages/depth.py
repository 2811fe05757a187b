"""The mono pipeline's depth stages: a predictor on the frame's RGB, and relative disparity
made metric against the frame's reference depth."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..packet import BadFrame, Packet


class DepthStage:
    """Run a depth predictor on the frame's RGB: ``predictor((H,W,3) uint8) → (h,w) float32``.

    Args:
        predictor: any callable; e.g. ``edgegeo.load("mono-depth")`` (relative disparity),
            or a metric depth model.
        output: ``disparity`` (relative, larger = nearer: stored in ``packet.disparity``, a
            :class:`ScaleToReference` stage makes metres of it) or ``depth`` (metres, stored in
            ``packet.depth``).
        name: stage name in the stats.
    """

    def __init__(self, predictor: Callable[[np.ndarray], np.ndarray],
                 output: str = "disparity", name: str = "mono"):
        if output not in ("disparity", "depth"):
            raise ValueError(f"output must be 'disparity' or 'depth', got {output!r}")
        self.predictor, self.output, self.name = predictor, output, name

    def __call__(self, packet: Packet) -> Packet:
        result = np.asarray(self.predictor(packet.frame.rgb))
        if result.ndim != 2:
            raise BadFrame(f"{self.name} returned shape {result.shape}, expected (h, w)")
        if not np.isfinite(result).all():
            raise BadFrame(f"{self.name} returned NaN/inf")
        result = np.maximum(result.astype(np.float32, copy=False), 0)
        if self.output == "disparity":
            packet.disparity = result
        else:
            packet.depth = result
            packet.info["depth_from"] = self.name
        return packet

    def close(self) -> None:
        close = getattr(self.predictor, "close", None)
        if callable(close):
            close()


class ScaleToReference:
    """Metric depth from relative disparity, fitted per frame to a reference depth.

    Mono-depth is affine-invariant in disparity: ``1 / depth ≈ s · disparity + t``. Where the
    frame carries depth (a RealSense depth stream, ground truth), ``s`` and ``t`` are fitted by
    least squares on the pixels valid in both (after trimming the worst 10 % once), and
    ``packet.depth = 1 / (s · disparity + t)`` (0 where that is not positive or beyond
    ``max_depth``). A frame without reference depth is rejected with :class:`BadFrame` — there
    is no metric scale to give it.
    """

    name = "scale"

    def __init__(self, max_depth: float = 10.0, min_pixels: int = 100):
        self.max_depth, self.min_pixels = float(max_depth), int(min_pixels)

    def __call__(self, packet: Packet) -> Packet:
        disparity, reference = packet.disparity, packet.frame.depth
        if disparity is None:
            raise BadFrame("no disparity to scale (the depth stage did not run)")
        if reference is None:
            raise BadFrame("relative mono-depth needs reference depth in the frame for a "
                           "metric scale (a RealSense or RGB-D source)")
        if reference.shape != disparity.shape:
            import cv2

            disparity = cv2.resize(disparity, reference.shape[::-1],
                                   interpolation=cv2.INTER_LINEAR)
        valid = (reference > 0) & (reference < self.max_depth) & np.isfinite(reference)
        if valid.sum() < self.min_pixels:
            raise BadFrame(f"only {int(valid.sum())} pixels of reference depth to fit the scale")
        x = disparity[valid].astype(np.float64)
        y = 1.0 / reference[valid].astype(np.float64)
        s, t = _fit_line(x, y)
        residual = np.abs(s * x + t - y)
        keep = residual <= np.percentile(residual, 90)
        s, t = _fit_line(x[keep], y[keep])
        inverse = s * disparity.astype(np.float64) + t
        with np.errstate(divide="ignore"):
            depth = np.where(inverse > 1.0 / self.max_depth, 1.0 / inverse, 0.0)
        packet.depth = depth.astype(np.float32)
        packet.info.update(depth_from="mono+scale", scale=float(s), shift=float(t))
        return packet


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    A = np.stack([x, np.ones_like(x)], axis=1)
    (s, t), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(s), float(t)
