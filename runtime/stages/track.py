"""The tracking stage: each frame's camera pose from its depth, for sources without poses."""
from __future__ import annotations

from ..packet import BadFrame, Packet


class TrackStage:
    """Estimate ``packet.world_T_cam`` with an :class:`~edgegeo.fusion.tracking.RGBDTracker`
    from ``packet.depth`` (metres) — or, with ``depth="sensor"``, the source's own depth
    (``frame.depth``: the mvs pipeline tracks an RGB-D camera before it predicts) — and the
    frame's colour.

    A frame the tracker refuses (tracking loss: see :mod:`edgegeo.fusion.tracking`) goes on
    without a pose, skipped (reason ``tracking lost``): the fuse stage passes it on unfused, so
    the map never sees a wrong pose. Frames without depth pass on (an earlier stage skipped
    them) or are rejected. Sets ``packet.info["tracking"]`` (state, fitness, inlier RMSE in
    metres, keyframe, and the reason of a loss).

    Args:
        tracker: the :class:`~edgegeo.fusion.tracking.RGBDTracker` (one per stream).
        depth: ``"packet"`` (the pipeline's depth) or ``"sensor"`` (the frame's own).
    """

    name = "track"

    def __init__(self, tracker, depth: str = "packet"):
        if depth not in ("packet", "sensor"):
            raise ValueError(f"depth must be 'packet' or 'sensor', got {depth!r}")
        self.tracker = tracker
        self.depth_from = depth

    def __call__(self, packet: Packet) -> Packet:
        if self.depth_from == "sensor":
            depth = packet.frame.depth
            if depth is None:
                raise BadFrame("cannot track: the frame has no depth of its own (tracking for "
                               "the mvs pipeline needs an RGB-D source)")
            K = packet.frame.K
        else:
            depth = packet.depth
            if depth is None:
                return packet.pass_without_depth(self.name, "track")
            K = packet.depth_K()
        rgb = packet.frame.rgb
        if depth.shape != rgb.shape[:2]:
            import cv2

            rgb = cv2.resize(rgb, depth.shape[::-1], interpolation=cv2.INTER_AREA)
        try:
            result = self.tracker.track(depth, K, rgb, packet.frame.timestamp)
        except ValueError as exc:
            raise BadFrame(f"cannot track: {exc}") from None
        packet.info["tracking"] = dict(state=result.state, fitness=round(result.fitness, 4),
                                       inlier_rmse_m=round(result.inlier_rmse, 5),
                                       keyframe=result.keyframe)
        if not result.ok:
            packet.info["tracking"]["reason"] = result.reason
            return packet.skip(self.name, "tracking lost")
        packet.world_T_cam = result.world_T_cam
        return packet

    def status(self) -> dict:
        """The tracker's state and counters for ``stats.json``, with a short ``line`` for the
        progress line."""
        status = self.tracker.status()
        line = status["state"]
        if status["lost_frames"]:
            line += f", lost {status['lost_frames']}"
        return dict(status, line=line)

