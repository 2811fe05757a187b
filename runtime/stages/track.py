"""The tracking stage: each frame's camera pose from its depth, for sources without poses."""
from __future__ import annotations

from ..packet import BadFrame, Packet


class TrackStage:
    """Estimate ``packet.world_T_cam`` with an :class:`~edgegeo.fusion.tracking.RGBDTracker`
    from ``packet.depth`` (metres) and the frame's colour.

    A frame the tracker refuses (tracking loss: see :mod:`edgegeo.fusion.tracking`) goes on
    without a pose, skipped (reason ``tracking lost``): the fuse stage passes it on unfused, so
    the map never sees a wrong pose. Frames without depth pass on (an earlier stage skipped
    them) or are rejected. Sets ``packet.info["tracking"]`` (state, fitness, inlier RMSE in
    metres, keyframe, and the reason of a loss).

    Args:
        tracker: the :class:`~edgegeo.fusion.tracking.RGBDTracker` (one per stream).
    """

    name = "track"

    def __init__(self, tracker):
        self.tracker = tracker

    def __call__(self, packet: Packet) -> Packet:
        depth = packet.depth
        if depth is None:
            return packet.pass_without_depth(self.name, "track")
        rgb = packet.frame.rgb
        if depth.shape != rgb.shape[:2]:
            import cv2

            rgb = cv2.resize(rgb, depth.shape[::-1], interpolation=cv2.INTER_AREA)
        try:
            result = self.tracker.track(depth, packet.depth_K(), rgb, packet.frame.timestamp)
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

