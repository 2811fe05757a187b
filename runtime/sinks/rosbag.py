"""The ROS 2 bag sink: images, camera info, poses and the fused map in an MCAP bag."""
from __future__ import annotations

import time
from pathlib import Path

from ..map import LiveMap
from .base import Sink
from .ros_messages import TOPICS, RosMessages


class RosBagSink(Sink):
    """A ROS 2 bag in MCAP storage (``rosbags``, no ROS installation needed).

    The messages of :class:`~.ros_messages.RosMessages` (depth as ``16UC1`` millimetres) per
    packet; the fused map (``PointCloud2``) every ``map_every_s`` seconds and at the end when
    ``live_map`` is given.

    Args:
        path: the bag folder to create (``metadata.yaml`` + ``.mcap`` inside); if it exists,
            a time-stamped sibling is used instead.
        live_map: the run's :class:`~edgegeo.runtime.map.LiveMap` (for the map cloud), or None.
        map_every_s: map cloud period; 0 = only at the end.
        max_map_points: the cloud is subsampled to at most this many points.
    """

    name = "rosbag"

    def __init__(self, path: str | Path, live_map: LiveMap | None = None, map_every_s: float = 10.0,
                 max_map_points: int = 200_000):
        self.path = Path(path)
        self.live_map = live_map
        self.map_every_s, self.max_map_points = float(map_every_s), max_map_points
        self._writer = None
        self._connections: dict = {}
        self._store = None
        self._messages: RosMessages | None = None
        self._last_map = time.monotonic()
        self.counts = {key: 0 for key in TOPICS}

    def open(self, info: dict | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if self.path.exists():
            self.path = self.path.with_name(f"{self.path.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = get_typestore(Stores.ROS2_HUMBLE)
        self._messages = RosMessages(self._store, "16UC1")
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        for key, (topic, msgtype) in TOPICS.items():
            if key == "map" and self.live_map is None:
                continue
            self._connections[key] = self._writer.add_connection(topic, msgtype,
                                                                 typestore=self._store)

    def _write(self, key: str, stamp_ns: int, message) -> None:
        self._writer.write(self._connections[key], stamp_ns,
                           self._messages.serialize(key, message))
        self.counts[key] += 1

    # ------------------------------------------------------------------- writing
    def write(self, packet) -> None:
        if self._writer is None:
            self.open()
        for key, stamp_ns, message in self._messages.packet_messages(packet):
            self._write(key, stamp_ns, message)

    def tick(self) -> None:
        if (self.live_map is not None and self._writer is not None and self.map_every_s > 0
                and time.monotonic() - self._last_map >= self.map_every_s):
            self.write_map()

    def write_map(self) -> bool:
        """Write the fused map now (if anything new was fused); True if written."""
        self._last_map = time.monotonic()
        cloud = self._messages.map_cloud(self.live_map, self.max_map_points)
        if cloud is None:
            return False
        self._write("map", self._messages.last_stamp_ns, cloud)
        return True

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            if self.live_map is not None:
                self.write_map()
        finally:
            self._writer.close()
            self._writer = None
