"""The ROS 2 live sink: the packets' messages published over zenoh the way ``rmw_zenoh``
(ROS 2's zenoh middleware) does, so a ROS 2 system running ``rmw_zenoh_cpp`` with a zenoh router
sees the topics (``ros2 topic list / echo``) — no ROS installation on the device.

What ``rmw_zenoh`` expects (its ``docs/design.md`` and ``src/detail/liveliness_utils.cpp``,
``attachment_helpers.cpp``, github.com/ros2/rmw_zenoh):

* data on the key ``<domain>/<topic without leading slash>/<DDS type name>/<type hash>``, e.g.
  ``0/camera/color/image_raw/sensor_msgs::msg::dds_::Image_/RIHS01_d31d…``, the payload the
  CDR serialisation of the message (with its 4-byte encapsulation header);
* an attachment per sample: sequence number (int64), source timestamp (int64, ns) and the
  publisher's 16-byte GID, in zenoh's extension serialisation;
* liveliness tokens for discovery: the node ``@ros2_lv/<domain>/<zid>/<nid>/<nid>/NN/%/%/<node>``
  and each publisher ``@ros2_lv/<domain>/<zid>/<nid>/<eid>/MP/%/%/<node>/<topic with / as %>/
  <type>/<hash>/<qos>`` (default QoS is written as ``::,:,:,:,,``).

Type hashes (REP-2016 ``RIHS01``) come from ``rosbags``' Jazzy type store.
"""
from __future__ import annotations

import hashlib
import itertools
import time

from ..map import LiveMap
from .live_ros import LiveRosSink
from .ros_messages import TOPICS, RosMessages

DEFAULT_QOS_KEY = "::,:,:,:,,"


def dds_type_name(msgtype: str) -> str:
    """``sensor_msgs/msg/Image`` → ``sensor_msgs::msg::dds_::Image_``."""
    package, kind, name = msgtype.split("/")
    return f"{package}::{kind}::dds_::{name}_"


class ZenohRos2Sink(LiveRosSink):
    """Publish :class:`~.ros_messages.RosMessages` (depth as ``32FC1`` metres) live over zenoh
    in ``rmw_zenoh``'s format (see the module docstring); the map cloud every
    ``map_every_s`` seconds.

    Args:
        listen: zenoh endpoint to listen on, e.g. ``tcp/127.0.0.1:7447`` (a router or
            subscribers connect to it).
        connect: endpoints to connect to instead / as well (e.g. the robot's router).
        live_map: the run's map for ``/edgegeo/map/points`` (None: no map topic).
        domain_id: the ROS domain.
        node: the ROS node name the topics belong to.
        map_every_s: map cloud period (0: only at the end); ``max_map_points`` its size.
    """

    name = "zenoh"

    def __init__(self, listen: str | None = None, connect: str | None = None,
                 live_map: LiveMap | None = None, domain_id: int = 0, node: str = "edgegeo",
                 map_every_s: float = 2.0, max_map_points: int = 100_000):
        if not (listen or connect):
            raise ValueError("the zenoh sink needs an endpoint to listen on or connect to")
        if not (isinstance(domain_id, int) and 0 <= domain_id <= 232):
            raise ValueError(f"ROS domain id must be 0-232, got {domain_id!r}")
        super().__init__(live_map, map_every_s, max_map_points)
        self.listen, self.connect = listen, connect
        self.domain_id, self.node = domain_id, node
        self.session = None
        self._publishers: dict = {}
        self._tokens: list = []
        self._gids: dict[str, bytes] = {}
        self._sequence = itertools.count(1)

    def open(self, info: dict | None = None) -> None:
        import json

        import zenoh
        from rosbags.typesys import Stores, get_typestore

        config = zenoh.Config()
        config.insert_json5("mode", '"peer"')
        config.insert_json5("scouting/multicast/enabled", "false")
        if self.listen:
            config.insert_json5("listen/endpoints", json.dumps([self.listen]))
        if self.connect:
            config.insert_json5("connect/endpoints", json.dumps([self.connect]))
        self.session = zenoh.open(config)
        store = get_typestore(Stores.ROS2_JAZZY)
        zid = str(self.session.info.zid())
        node_id = 0
        self._tokens.append(self.session.liveliness().declare_token(
            f"@ros2_lv/{self.domain_id}/{zid}/{node_id}/{node_id}/NN/%/%/{self.node}"))
        for entity_id, (key, (topic, msgtype)) in enumerate(TOPICS.items(), start=1):
            if key == "map" and self.live_map is None:
                continue
            dds_type, type_hash = dds_type_name(msgtype), store.hash_rihs01(msgtype)
            liveliness = (f"@ros2_lv/{self.domain_id}/{zid}/{node_id}/{entity_id}/MP/%/%/"
                          f"{self.node}/{topic.replace('/', '%')}/{dds_type}/{type_hash}/"
                          f"{DEFAULT_QOS_KEY}")
            self._gids[key] = hashlib.blake2b(liveliness.encode(), digest_size=16).digest()
            self._publishers[key] = self.session.declare_publisher(
                f"{self.domain_id}/{topic.strip('/')}/{dds_type}/{type_hash}")
            self._tokens.append(self.session.liveliness().declare_token(liveliness))
        self._messages = RosMessages(store, "32FC1")       # open: write() may send now

    def _send(self, key: str, payload: bytes) -> None:
        from zenoh.ext import Int64, UInt8, z_serialize

        attachment = z_serialize((Int64(next(self._sequence)), Int64(time.time_ns()),
                                  tuple(UInt8(b) for b in self._gids[key])))
        self._publishers[key].put(payload, attachment=attachment)

    def _disconnect(self) -> None:
        for token in self._tokens:
            token.undeclare()
        for publisher in self._publishers.values():
            publisher.undeclare()
        self.session.close()
        self.session = None
