"""The ROS 2 node sink, for machines with ROS 2 installed: the same topics as the zenoh sink
(:mod:`.ros2_zenoh`), published by an ``rclpy`` node on whatever middleware ROS 2 is
configured with (``RMW_IMPLEMENTATION``). The messages are the CDR bytes
:class:`~.ros_messages.RosMessages` builds (rclpy publishes serialized messages as they are),
so both sinks send the same data."""
from __future__ import annotations

from ..map import LiveMap
from .live_ros import LiveRosSink
from .ros_messages import TOPICS, RosMessages


class Ros2NodeSink(LiveRosSink):
    """Publish the packets' ROS 2 messages from an ``rclpy`` node.

    Args:
        node: the node name; ``namespace`` its namespace.
        live_map: the run's map for ``/edgegeo/map/points`` (None: no map topic).
        map_every_s: map cloud period (0: only at the end); ``max_map_points`` its size.
    Raises:
        ValueError: rclpy does not import (no ROS 2 here): use the zenoh sink.
    """

    name = "ros2"

    def __init__(self, node: str = "edgegeo", namespace: str = "",
                 live_map: LiveMap | None = None, map_every_s: float = 2.0,
                 max_map_points: int = 100_000):
        try:
            import rclpy  # noqa: F401 - checked here, used in open()
        except ImportError:
            raise ValueError("ros2:// needs a ROS 2 installation (rclpy does not import); "
                             "zenoh://ENDPOINT publishes the same topics without one") from None
        super().__init__(live_map, map_every_s, max_map_points)
        self.node_name, self.namespace = node, namespace
        self._node = None
        self._publishers: dict = {}

    def open(self, info: dict | None = None) -> None:
        import rclpy
        from rosbags.typesys import Stores, get_typestore
        from rosidl_runtime_py.utilities import get_message

        if not rclpy.ok():
            rclpy.init()
        self._node = rclpy.create_node(self.node_name, namespace=self.namespace)
        for key, (topic, msgtype) in TOPICS.items():
            if key == "map" and self.live_map is None:
                continue
            self._publishers[key] = self._node.create_publisher(get_message(msgtype), topic, 10)
        self._messages = RosMessages(get_typestore(Stores.ROS2_JAZZY), "32FC1")

    def _send(self, key: str, payload: bytes) -> None:
        self._publishers[key].publish(payload)      # rclpy publishes serialized bytes as is

    def _disconnect(self) -> None:
        self._node.destroy_node()
        self._node = None
