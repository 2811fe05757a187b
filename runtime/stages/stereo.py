"""The stereo pipeline's depth stage: a stereo model on the source's rectified pairs, disparity
turned into metric depth with the pair's focal length and baseline."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgegeo.geometry import disparity_to_depth

from ..packet import BadFrame, Packet

NO_PAIR_HELP = ("the stereo pipeline needs rectified pairs: synthetic://stereo, or a RealSense "
                "camera / recording with its infrared pair, opened with align=0")


class StereoStage:
    """Metric depth of the left image of each packet's rectified pair.

    The pair is ``packet.frame.rgb`` (left) and ``packet.record.right`` (right), both
    ``(H, W, 3) uint8`` RGB with the frame's ``K``; the predictor's disparity ``d`` (pixels of
    the left image) becomes ``depth = fx · baseline_m / d`` in metres, 0 where ``d ≤ 0``.
    Sets ``packet.disparity`` (pixels) and ``packet.depth`` (metres, frame resolution).

    With ``max_disparity_error_px`` the predictor is called with ``return_confidence=True``
    (``StereoPredictor``'s confidence ``exp(−c)``, where ``exp(c)`` is the Laplacian scale: the
    expected absolute disparity error in pixels), and pixels whose expected error exceeds the
    limit get depth 0 (left out of fusion); ``packet.confidence`` holds the map and
    ``packet.info["masked_fraction"]`` the share masked.

    A packet without a right image or baseline, a right image of another size, a pair the
    predictor refuses (its ValueError) or a non-finite disparity is a :class:`BadFrame`.

    Args:
        predictor: ``(left, right) → (H, W) float32`` disparity in pixels, e.g.
            ``edgegeo.load("stereo", check_rectification=False)`` (the runtime's sources
            deliver rectified pairs by construction).
        name: stage name in the stats.
        max_disparity_error_px: mask pixels whose expected disparity error is larger (None:
            no confidence, nothing masked).
    """

    def __init__(self, predictor: Callable[..., np.ndarray], name: str = "stereo",
                 max_disparity_error_px: float | None = None):
        if max_disparity_error_px is not None and not max_disparity_error_px > 0:
            raise ValueError(f"max_disparity_error_px must be positive pixels, got "
                             f"{max_disparity_error_px}")
        self.predictor, self.name = predictor, name
        self.max_disparity_error_px = max_disparity_error_px

    def __call__(self, packet: Packet) -> Packet:
        left, right = packet.frame.rgb, packet.record.right
        baseline = packet.record.baseline_m
        if right is None:
            raise BadFrame(f"no right image in the packet: {NO_PAIR_HELP}")
        if baseline is None or not np.isfinite(baseline) or baseline <= 0:
            raise BadFrame(f"no stereo baseline in the packet (got {baseline!r}): the source "
                           "must give the pair's baseline in metres")
        if not isinstance(right, np.ndarray) or right.shape != left.shape \
                or right.dtype != np.uint8:
            raise BadFrame(f"right image must be {left.shape} uint8 like the left one, got "
                           f"{getattr(right, 'shape', None)} "
                           f"{getattr(right, 'dtype', type(right).__name__)}")
        confidence = None
        try:
            if self.max_disparity_error_px is None:
                disparity = np.asarray(self.predictor(left, right))
            else:
                disparity, confidence = self.predictor(left, right, return_confidence=True)
                disparity, confidence = np.asarray(disparity), np.asarray(confidence)
        except ValueError as exc:
            raise BadFrame(f"{self.name}: {exc}") from None
        if disparity.shape != left.shape[:2]:
            raise BadFrame(f"{self.name} returned shape {disparity.shape}, expected "
                           f"{left.shape[:2]}")
        if not np.isfinite(disparity).all():
            raise BadFrame(f"{self.name} returned NaN/inf disparity")
        disparity = np.maximum(disparity.astype(np.float32, copy=False), 0)
        packet.disparity = disparity
        usable = disparity
        if confidence is not None:
            trusted = confidence >= 1.0 / self.max_disparity_error_px
            usable = np.where(trusted, disparity, 0).astype(np.float32)
            packet.confidence = confidence.astype(np.float32, copy=False)
            packet.info["masked_fraction"] = float(1.0 - trusted.mean())
        packet.depth = disparity_to_depth(usable, packet.frame.K[0, 0], baseline)
        packet.info.update(depth_from=self.name, baseline_m=float(baseline))
        return packet
