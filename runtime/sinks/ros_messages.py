"""ROS 2 messages of a pipeline's packets — what the bag sink (:mod:`.rosbag`) writes and the
zenoh sink (:mod:`.ros2_zenoh`) publishes, built once here with ``rosbags``' type store (no
ROS installation needed)."""
from __future__ import annotations

import time

import numpy as np

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
DEPTH_ENCODINGS = ("16UC1", "32FC1")


class RosMessages:
    """Build the messages of each packet, in order, with monotonic stamps.

    Per packet: colour (``rgb8``), ``CameraInfo`` (plumb-bob, no distortion), depth
    (``16UC1`` millimetres or ``32FC1`` metres, registered to the colour image, 0 = invalid),
    and when the packet has a pose (:attr:`Packet.pose`: tracked, else the source's)
    ``PoseStamped``, a ``/tf`` transform ``map → camera_color_optical_frame`` and
    ``nav_msgs/Odometry`` (the twist in the camera frame from the previous pose: m/s, rad/s;
    covariances unknown: zeros). The map as ``PointCloud2`` (x, y, z, rgb in ``map``) on
    request. Stamps are the frames' source timestamps.

    Args:
        store: a ``rosbags`` type store (``get_typestore(Stores.ROS2_...)``).
        depth_encoding: ``16UC1`` (millimetres) or ``32FC1`` (metres).
    """

    def __init__(self, store, depth_encoding: str = "16UC1"):
        if depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"depth_encoding must be one of {DEPTH_ENCODINGS}")
        self.store = store
        self.depth_encoding = depth_encoding
        self.last_stamp_ns = 0
        self._previous_pose: tuple[int, np.ndarray] | None = None   # (stamp ns, world_T_cam)
        self._mapped_frames = 0

    def serialize(self, key: str, message) -> bytes:
        """CDR bytes of ``message`` (of :data:`TOPICS` ``key``'s type)."""
        return bytes(self.store.serialize_cdr(message, TOPICS[key][1]))

    # ------------------------------------------------------------------- per packet
    def packet_messages(self, packet) -> list[tuple[str, int, object]]:
        """``[(topic key, stamp ns, message)]`` of one packet."""
        T = self.store.types
        frame = packet.frame
        stamp = frame.timestamp if frame.timestamp is not None else time.time()
        stamp_ns = max(int(round(stamp * 1e9)), self.last_stamp_ns)
        self.last_stamp_ns = stamp_ns
        header = self.header(stamp_ns, CAMERA_FRAME)
        out = [("color", stamp_ns, self.image(header, frame.rgb, "rgb8")),
               ("camera_info", stamp_ns, self.camera_info(header, frame.K, frame.hw))]
        if packet.depth is not None:
            if self.depth_encoding == "16UC1":
                depth = np.clip(np.round(packet.depth * 1000.0), 0, 65535).astype(np.uint16)
            else:
                depth = packet.depth.astype(np.float32)
            out.append(("depth", stamp_ns, self.image(header, depth, self.depth_encoding)))
        if packet.pose is not None:
            world_T_cam = np.asarray(packet.pose, dtype=np.float64)
            (tx, ty, tz), quaternion = self._pose_parts(world_T_cam)
            map_header = self.header(stamp_ns, MAP_FRAME)
            pose = T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=tx, y=ty, z=tz), orientation=quaternion)
            transform = T["geometry_msgs/msg/Transform"](
                translation=T["geometry_msgs/msg/Vector3"](x=tx, y=ty, z=tz), rotation=quaternion)
            out += [("pose", stamp_ns, T["geometry_msgs/msg/PoseStamped"](header=map_header,
                                                                          pose=pose)),
                    ("tf", stamp_ns, T["tf2_msgs/msg/TFMessage"](transforms=[
                        T["geometry_msgs/msg/TransformStamped"](
                            header=map_header, child_frame_id=CAMERA_FRAME,
                            transform=transform)])),
                    ("odometry", stamp_ns, self._odometry(map_header, pose, world_T_cam,
                                                          stamp_ns))]
        return out

    def map_cloud(self, live_map, max_points: int):
        """The fused map as ``PointCloud2`` (at most ``max_points``, a fixed random subset), or
        None when nothing new was fused since the last one."""
        if live_map is None or live_map.frames_integrated in (0, self._mapped_frames):
            return None
        self._mapped_frames = live_map.frames_integrated
        mesh = live_map.mesh()
        points = np.asarray(mesh.vertices, dtype=np.float32)
        if len(points) == 0:
            return None
        colors = (np.asarray(mesh.vertex_colors) if mesh.has_vertex_colors()
                  else np.full((len(points), 3), 0.8))
        if len(points) > max_points:
            keep = np.random.default_rng(0).choice(len(points), max_points, replace=False)
            points, colors = points[keep], colors[keep]
        return self._cloud(points, colors)

    # ---------------------------------------------------------------------- builders
    def header(self, stamp_ns: int, frame_id: str):
        T = self.store.types
        return T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000,
                                                   nanosec=stamp_ns % 1_000_000_000),
            frame_id=frame_id)

    def image(self, header, array: np.ndarray, encoding: str):
        height, width = array.shape[:2]
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        return self.store.types["sensor_msgs/msg/Image"](
            header=header, height=height, width=width, encoding=encoding, is_bigendian=0,
            step=data.size // height, data=data)

    def camera_info(self, header, K: np.ndarray, hw: tuple[int, int]):
        T = self.store.types
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

        T = self.store.types
        x, y, z, w = Rotation.from_matrix(world_T_cam[:3, :3]).as_quat()
        quaternion = T["geometry_msgs/msg/Quaternion"](x=float(x), y=float(y), z=float(z),
                                                       w=float(w))
        tx, ty, tz = (float(v) for v in world_T_cam[:3, 3])
        return (tx, ty, tz), quaternion

    def _odometry(self, header, pose, world_T_cam: np.ndarray, stamp_ns: int):
        from scipy.spatial.transform import Rotation

        T = self.store.types
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

    def _cloud(self, points: np.ndarray, colors: np.ndarray):
        T = self.store.types
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
            header=self.header(self.last_stamp_ns, MAP_FRAME), height=1, width=len(points),
            fields=fields, is_bigendian=False, point_step=16, row_step=16 * len(points),
            data=record.view(np.uint8).reshape(-1), is_dense=True)
