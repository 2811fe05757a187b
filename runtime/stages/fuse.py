"""The fusion stage: each frame's depth into the run's map."""
from __future__ import annotations

from ..map import LiveMap
from ..packet import BadFrame, Packet


class FuseStage:
    """Integrate ``packet.depth`` (metres) into a :class:`~edgegeo.runtime.map.LiveMap`.

    The pose is :attr:`Packet.pose` (the tracked one when a tracking stage ran, else the
    source's). Frames without depth or pose are rejected (:class:`BadFrame`), except those an
    earlier stage skipped on purpose (no depth, see :meth:`Packet.skip`; tracking lost), which
    pass on unfused;
    ``integrate`` validates before it changes the volume, so a rejected frame never damages
    the map. Sinks read the map while streaming, under its lock. Sets
    ``packet.info["fused"]``. Depth a stage produced for earlier frames
    (``packet.earlier_depths``) is integrated after the packet's own, with those frames'
    poses (``packet.info["fused_earlier"]``: their frame indices).

    Args:
        live_map: the run's map.
        pass_unposed: a source without poses whose run does not track (``--no-track``): pass
            its frames on unfused (for the depth / video / bag sinks) instead of rejecting them.
    """

    name = "fuse"

    def __init__(self, live_map: LiveMap, pass_unposed: bool = False):
        self.live_map = live_map
        self.pass_unposed = pass_unposed

    def __call__(self, packet: Packet) -> Packet:
        depth = packet.depth
        if depth is None:
            return packet.pass_without_depth(self.name, "fuse")
        if "track" in packet.skipped:
            packet.info["fused"] = False
            return packet.skip(self.name, packet.skipped["track"])
        pose = packet.pose
        if pose is None:
            if self.pass_unposed:
                packet.info["fused"] = False
                return packet
            raise BadFrame("no camera pose: fusion needs world_T_cam (a posed source)")
        rgb = packet.frame.rgb
        if depth.shape != rgb.shape[:2]:
            import cv2

            rgb = cv2.resize(rgb, depth.shape[::-1], interpolation=cv2.INTER_AREA)
        seconds = self.live_map.integrate(depth, packet.depth_K(), pose, rgb)
        packet.info["fused"] = seconds > 0
        fused_earlier = []
        for index, earlier, earlier_depth in packet.earlier_depths:
            if self.live_map.integrate(earlier_depth, earlier.K, earlier.world_T_cam,
                                       earlier.rgb) > 0:
                fused_earlier.append(index)
        if packet.earlier_depths:
            packet.info["fused_earlier"] = fused_earlier
        return packet
