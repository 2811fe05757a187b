"""The stereo pipeline's depth stage: a stereo model on the source's rectified pairs, disparity
turned into metric depth with the pair's focal length and baseline."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgegeo.geometry import disparity_to_depth

from .pipeline import BadFrame, Packet

NO_PAIR_HELP = ("the stereo pipeline needs rectified pairs: synthetic://stereo, or a RealSense "
                "camera / recording with its infrared pair, opened with align=0")


class StereoStage:
    """Metric depth of the left image of each packet's rectified pair.

    The pair is ``packet.frame.rgb`` (left) and ``packet.record.right`` (right), both
    ``(H, W, 3) uint8`` RGB with the frame's ``K``; the predictor's disparity ``d`` (pixels of
    the left image) becomes ``depth = fx · baseline_m / d`` in metres, 0 where ``d ≤ 0``.
    Sets ``packet.disparity`` (pixels) and ``packet.depth`` (metres, frame resolution).

    A packet without a right image or baseline, a right image of another size, a pair the
    predictor refuses (its ValueError) or a non-finite disparity is a :class:`BadFrame`.

    Args:
        predictor: ``(left, right) → (H, W) float32`` disparity in pixels, e.g.
            ``edgegeo.load("stereo", check_rectification=False)`` (the runtime's sources
            deliver rectified pairs by construction).
        name: stage name in the stats.
    """

    def __init__(self, predictor: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 name: str = "stereo"):
        self.predictor, self.name = predictor, name

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
        try:
            disparity = np.asarray(self.predictor(left, right))
        except ValueError as exc:
            raise BadFrame(f"{self.name}: {exc}") from None
        if disparity.shape != left.shape[:2]:
            raise BadFrame(f"{self.name} returned shape {disparity.shape}, expected "
                           f"{left.shape[:2]}")
        if not np.isfinite(disparity).all():
            raise BadFrame(f"{self.name} returned NaN/inf disparity")
        disparity = np.maximum(disparity.astype(np.float32, copy=False), 0)
        packet.disparity = disparity
        packet.depth = disparity_to_depth(disparity, packet.frame.K[0, 0], baseline)
        packet.info.update(depth_from=self.name, baseline_m=float(baseline))
        return packet
