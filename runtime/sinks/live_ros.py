"""What the live ROS 2 sinks (:mod:`.ros2_zenoh`, :mod:`.ros2_node`) share: each packet's
messages sent as they come, the map cloud every ``map_every_s`` seconds and once more at the
end; a subclass only connects, sends one serialized message and disconnects."""
from __future__ import annotations

import time

from ..map import LiveMap
from .base import Sink
from .ros_messages import TOPICS, RosMessages


class LiveRosSink(Sink):
    """Base of the live ROS 2 sinks.

    Subclasses implement :meth:`open` (connect, declare the publishers, set ``_messages`` to
    a :class:`~.ros_messages.RosMessages`), :meth:`_send` and :meth:`_disconnect`.

    Args:
        live_map: the run's map for ``/edgegeo/map/points`` (None: no map topic).
        map_every_s: map cloud period (0: only at the end); ``max_map_points`` its size.
    """

    def __init__(self, live_map: LiveMap | None, map_every_s: float, max_map_points: int):
        self.live_map = live_map
        self.map_every_s, self.max_map_points = float(map_every_s), max_map_points
        self._messages: RosMessages | None = None
        self._last_map = time.monotonic()
        self.counts = {key: 0 for key in TOPICS}

    def _send(self, key: str, payload: bytes) -> None:
        """Publish one CDR-serialized message of topic ``key``."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _publish(self, key: str, message) -> None:
        self._send(key, self._messages.serialize(key, message))
        self.counts[key] += 1

    def write(self, packet) -> None:
        if self._messages is None:
            self.open()
        for key, _, message in self._messages.packet_messages(packet):
            self._publish(key, message)

    def tick(self) -> None:
        if (self.live_map is not None and self._messages is not None and self.map_every_s > 0
                and time.monotonic() - self._last_map >= self.map_every_s):
            self.publish_map()

    def publish_map(self) -> bool:
        """Publish the fused map now (if anything new was fused); True if published."""
        self._last_map = time.monotonic()
        cloud = self._messages.map_cloud(self.live_map, self.max_map_points)
        if cloud is None:
            return False
        self._publish("map", cloud)
        return True

    def close(self) -> None:
        if self._messages is None:
            return
        try:
            if self.live_map is not None:
                self.publish_map()
        finally:
            self._disconnect()
            self._messages = None
