"""The ROS 2 bag sink: images, camera info, poses and the fused map in an MCAP bag."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..map import LiveMap
from .base import Sink

TOPICS = {
    "color": ("/camera/color/image_raw", "sensor_msgs/msg/Image"),
    "depth": ("/camera/depth/image_raw", "sensor_msgs/msg/Image"),
    "camera_info": ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
    "pose": ("/camera/pose", "geometry_msgs/msg/PoseStamped"),
    "tf": ("/tf", "tf2_msgs/msg/TFMessage"),
    "odometry": ("/edgegeo/odometry", "nav_msgs/msg/Odometry"),
    "map": ("/edgegeo/map/points", "sensor_msgs/msg/PointCloud2"),
}
CAMERA_FRAME = "camera_color_optical_frame"
MAP_FRAME = "map"


class RosBagSink(Sink):
    """A ROS 2 bag in MCAP storage (``rosbags``, no ROS installation needed).

    Per packet: colour (``rgb8``), depth (``16UC1`` millimetres, registered to the colour
    image, 0 = invalid), ``CameraInfo`` (plumb-bob, no distortion), and when the frame has a
    pose (:attr:`Packet.pose`: tracked, else the source's), ``PoseStamped``, a ``/tf``
    transform ``map → camera_color_optical_frame`` and ``nav_msgs/Odometry`` (the pose, and
    the twist in the camera frame from the previous pose: m/s, rad/s). The
    fused map (``PointCloud2``: x, y, z, rgb in ``map``) is written every ``map_every_s``
    seconds and at the end when ``live_map`` is given. Stamps are the frames' source timestamps.

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
        self._last_map = time.monotonic()
        self._last_stamp_ns = 0
        self._mapped_frames = 0
        self._previous_pose: tuple[int, np.ndarray] | None = None   # (stamp ns, world_T_cam)
        self.counts = {key: 0 for key in TOPICS}

    def open(self, info: dict | None = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        if self.path.exists():
            self.path = self.path.with_name(f"{self.path.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = get_typestore(Stores.ROS2_HUMBLE)
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        for key, (topic, msgtype) in TOPICS.items():
            if key == "map" and self.live_map is None:
                continue
            self._connections[key] = self._writer.add_connection(topic, msgtype,
                                                                 typestore=self._store)

    # ------------------------------------------------------------ message builders
    def _header(self, stamp_ns: int, frame_id: str):
        T = self._store.types
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000,
                                                   nanosec=stamp_ns % 1_000_000_000),
            frame_id=frame_id)

    def _image(self, header, array: np.ndarray, encoding: str):
        height, width = array.shape[:2]
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        return self._store.types["sensor_msgs/msg/Image"](
            header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
            step=data.size // height, data=data)

    def _camera_info(self, header, K: np.ndarray, hw: tuple[int, int]):
        T = self._store.types
        P = np.zeros((3, 4))
        P[:, :3] = K
        return T["sensor_msgs/msg/CameraInfo"](
            header=header, height=hw[0], width=hw[1], distortion_model="plumb_bob",
            d=np.zeros(5), k=np.asarray(K, dtype=np.float64).reshape(-1),
            r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
            roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0,
                                                      width=0, do_rectify=False))

    def _pose_parts(self, world_T_cam: np.ndarray):
        from scipy.spatial.transform import Rotation

        T = self._store.types
        x, y, z, w = Rotation.from_matrix(world_T_cam[:3, :3]).as_quat()
        quaternion = T["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z),
                                                       w=float(w))
        tx, ty, tz = (float(v) for v in world_T_cam[:3, 3])
        return (tx, ty, tz), quaternion

    def _write(self, key: str, stamp_ns: int, message) -> None:
        msgtype = TOPICS[key][1]
        self._writer.write(self._connections[key], stamp_ns,
                           bytes(self._store.serialize_cdr(message, msgtype)))
        self.counts[key] += 1

    # ------------------------------------------------------------------- writing
    def write(self, packet) -> None:
        if self._writer is None:
            self.open()
        T = self._store.types
        frame = packet.frame
        stamp = frame.timestamp if frame.timestamp is not None else time.time()
        stamp_ns = max(int(round(stamp * 1e9)), self._last_stamp_ns)
        self._last_stamp_ns = stamp_ns
        header = self._header(stamp_ns, CAMERA_FRAME)
        self._write("color", stamp_ns, self._image(header, frame.rgb, "rgb8"))
        self._write("camera_info", stamp_ns, self._camera_info(header, frame.K, frame.hw))
        if packet.depth is not None:
            depth_mm = np.clip(np.round(packet.depth * 1000.0), 0, 65535).astype(np.uint16)
            self._write("depth", stamp_ns, self._image(header, depth_mm, "16UC1"))
        if packet.pose is not None:
            world_T_cam = np.asarray(packet.pose, dtype=np.float64)
            (tx, ty, tz), quaternion = self._pose_parts(world_T_cam)
            map_header = self._header(stamp_ns, MAP_FRAME)
            pose = T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=tx, y=ty, z=tz), orientation=quaternion)
            self._write("pose", stamp_ns, T["geometry_msgs/msg/PoseStamped"](header=map_header,
                                                                            pose=pose))
            transform = T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=tx, y=ty, z=tz), rotation=quaternion)
            self._write("tf", stamp_ns, T["tf2_msgs/msg/TFMessage"](transforms=[
                T["geometry_msgs/msg/TransformStamped"](header=map_header,
                                                        child_frame_id=CAMERA_FRAME,
                                                        transform=transform)]))
            self._write("odometry", stamp_ns, self._odometry(map_header, pose, world_T_cam,
                                                             stamp_ns))

    def _odometry(self, header, pose, world_T_cam: np.ndarray, stamp_ns: int):
        """``nav_msgs/Odometry``: ``pose`` in ``map``, the twist since the previous pose in the
        camera frame (zero for the first), covariances unknown (zeros)."""
        from scipy.spatial.transform import Rotation

        T = self._store.types
        linear, angular = np.zeros(3), np.zeros(3)
        if self._previous_pose is not None and stamp_ns > self._previous_pose[0]:
            dt = (stamp_ns - self._previous_pose[0]) * 1e-9
            step = np.linalg.inv(self._previous_pose[1]) @ world_T_cam
            linear = step[:3, 3] / dt
            angular = Rotation.from_matrix(step[:3, :3]).as_rotvec() / dt
        self._previous_pose = (stamp_ns, world_T_cam)
        vector = T["geometry_msgs/msg/Vector3"]
        zeros = np.zeros(36, dtype=np.float64)
        return T["nav_msgs/msg/Odometry"](
            header=header, child_frame_id=CAMERA_FRAME,
            pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=zeros),
            twist=T["geometry_msgs/msg/TwistWithCovariance"](
                twist=T["geometry_msgs/msg/Twist"](linear=vector(*map(float, linear)),
                                                   angular=vector(*map(float, angular))),
                covariance=zeros.copy()))

    def tick(self) -> None:
        if (self.live_map is not None and self._writer is not None and self.map_every_s > 0
                and time.monotonic() - self._last_map >= self.map_every_s):
            self.write_map()

    def write_map(self) -> bool:
        """Write the fused map now (if anything new was fused); True if written."""
        self._last_map = time.monotonic()
        if self.live_map is None or self.live_map.frames_integrated in (0, self._mapped_frames):
            return False
        self._mapped_frames = self.live_map.frames_integrated
        mesh = self.live_map.mesh()
        points = np.asarray(mesh.vertices, dtype=np.float32)
        if len(points) == 0:
            return False
        colors = (np.asarray(mesh.vertex_colors) if mesh.has_vertex_colors()
                  else np.full((len(points), 3), 0.8))
        if len(points) > self.max_map_points:
            keep = np.random.default_rng(0).choice(len(points), self.max_map_points,
                                                   replace=False)
            points, colors = points[keep], colors[keep]
        self._write("map", self._last_stamp_ns, self._cloud(points, colors))
        return True

    def _cloud(self, points: np.ndarray, colors: np.ndarray):
        T = self._store.types
        rgb = np.clip(np.round(colors * 255), 0, 255).astype(np.uint32)
        packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
        record = np.empty(len(points), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                              ("rgb", "<u4")])
        record["x"], record["y"], record["z"] = points[:, 0], points[:, 1], points[:, 2]
        record["rgb"] = packed
        field = T["sensor_msgs/msg/PointField"]
        fields = [field(name=name, offset=4 * i, datatype=field.FLOAT32, count=1)
                  for i, name in enumerate(("x", "y", "z", "rgb"))]
        return T["sensor_msgs/msg/PointCloud2"](
            header=self._header(self._last_stamp_ns, MAP_FRAME), height=1, width=len(points),
            fields=fields, is_bigendian=False, point_step=16, row_step=16 * len(points),
            data=record.view(np.uint8).reshape(-1), is_dense=True)

    def close(self) -> None:
        if self._writer is None:
            return
        try:
            if self.live_map is not None:
                self.write_map()
        finally:
            self._writer.close()
            self._writer = None
