"""Where a pipeline's results go. Each sink has ``write(packet)`` (called for every packet that
leaves the last stage) and optionally ``open(info)``, ``tick()`` (called often, for periodic
work) and ``close()`` (end of stream, including SIGINT/SIGTERM: final saves).

* :class:`MapSink` — fused mesh and point cloud (PLY), saved every ``every_s`` seconds and on
  exit, atomically (a crash never leaves a half-written file).
* :class:`DepthFramesSink` — depth frames as 16-bit PNG in millimetres or ``.npy`` metres.
* :class:`DepthVideoSink` — colour-mapped depth (beside the RGB) as an mp4 video.
* :class:`RosBagSink` — a ROS 2 bag (MCAP) with ``sensor_msgs/Image`` (rgb8 colour, 16UC1
  depth in mm), ``CameraInfo``, camera pose and ``/tf``, and the fused map as ``PointCloud2``;
  Foxglove Studio and ``ros2 bag`` open it.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("edgegeo.runtime.sinks")


class Sink:
    """Base class (optional: any object with ``write`` works)."""

    name = "sink"

    def open(self, info: dict) -> None:
        """Called once before the first packet with facts about the run."""

    def write(self, packet) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        """Called after every packet and when idle; do periodic work here."""

    def close(self) -> None:
        """End of stream: flush and save."""


# ------------------------------------------------------------------------------------ map
class MapSink(Sink):
    """Save the fused map of a :class:`~edgegeo.runtime.pipeline.FuseStage` as PLY.

    Args:
        fuse: the pipeline's fuse stage.
        out_dir: folder for ``mesh.ply`` and ``cloud.ply``.
        every_s: save this often while streaming (only if new frames were fused); 0 = only at
            the end.
        mesh, cloud: which files to write.
    """

    name = "map"

    def __init__(self, fuse, out_dir: str | Path, every_s: float = 30.0, mesh: bool = True,
                 cloud: bool = True):
        self.fuse = fuse
        self.out_dir = Path(out_dir)
        self.mesh_path = self.out_dir / "mesh.ply" if mesh else None
        self.cloud_path = self.out_dir / "cloud.ply" if cloud else None
        self.every_s = float(every_s)
        self._last_save = time.monotonic()
        self._saved_frames = 0
        self.saves = 0
        self.last_mesh = None

    def write(self, packet) -> None:
        pass

    def tick(self) -> None:
        if self.every_s > 0 and time.monotonic() - self._last_save >= self.every_s:
            self.save()

    def save(self) -> bool:
        """Save now if anything new was fused and the volume has a surface (a voxel observed
        by a single frame is not meshed yet); True if files were written."""
        self._last_save = time.monotonic()
        fused = self.fuse.frames_fused
        if fused == 0 or fused == self._saved_frames:
            return False
        mesh = self.fuse.save(self.mesh_path, self.cloud_path, require_surface=True)
        if mesh is None:
            log.warning("%d frame(s) fused but no surface extracted yet: no map saved", fused)
            return False
        self.last_mesh = mesh
        self._saved_frames = fused
        self.saves += 1
        return True

    def close(self) -> None:
        if self.fuse.frames_fused == 0:
            log.warning("no frame was fused: no map to save")
            return
        self.save()
        log.info("map saved: %s", ", ".join(str(p) for p in (self.mesh_path, self.cloud_path)
                                            if p))


# --------------------------------------------------------------------------- depth frames
class DepthFramesSink(Sink):
    """Write every ``every``-th packet's depth as ``depth/<index>.png`` (16-bit, millimetres,
    0 = invalid; depths beyond 65.5 m become 0) or ``depth/<index>.npy`` (float32 metres).

    Args:
        out_dir: the folder the files go to (created).
        fmt: ``png16`` or ``npy``.
        every: keep one packet in ``every``.
    """

    name = "depth-frames"

    def __init__(self, out_dir: str | Path, fmt: str = "png16", every: int = 1):
        if fmt not in ("png16", "npy"):
            raise ValueError(f"depth frame format must be png16 or npy, got {fmt!r}")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.out_dir, self.fmt, self.every = Path(out_dir), fmt, int(every)
        self.written = 0
        self._seen = 0

    def write(self, packet) -> None:
        from edgegeo.data.images import write_depth_png

        depth = packet.depth
        if depth is None:
            return
        self._seen += 1
        if (self._seen - 1) % self.every:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        name = f"{packet.index:06d}"
        if self.fmt == "npy":
            path = self.out_dir / f"{name}.npy"
            tmp = path.with_name(f".{name}.tmp.npy")
            np.save(tmp, depth.astype(np.float32, copy=False))
            tmp.replace(path)
        else:
            depth = np.where(depth * 1000.0 > 65535.0, 0.0, depth)
            write_depth_png(self.out_dir / f"{name}.png", depth)
        self.written += 1


# --------------------------------------------------------------------------- depth video
class DepthVideoSink(Sink):
    """Colour-mapped depth as an mp4 video (``mp4v``), beside the RGB frame by default.

    Args:
        path: the ``.mp4`` file.
        fps: playback rate written into the file.
        max_depth: depth mapped to the end of the colour map (metres); default from the first
            frame (its 98th percentile), then fixed so colours mean the same all along.
        with_rgb: put the RGB frame on the left.
    """

    name = "depth-video"

    def __init__(self, path: str | Path, fps: float = 10.0, max_depth: float | None = None,
                 with_rgb: bool = True):
        self.path, self.fps = Path(path), float(fps)
        self.max_depth, self.with_rgb = max_depth, with_rgb
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def _picture(self, packet) -> np.ndarray:
        import cv2

        from edgegeo.viz import colorize

        depth = packet.depth
        if self.max_depth is None:
            valid = depth[depth > 0]
            self.max_depth = float(np.percentile(valid, 98)) if valid.size else 5.0
        picture = colorize(depth, 0.0, self.max_depth)
        if self.with_rgb:
            rgb = packet.frame.rgb
            if rgb.shape[:2] != picture.shape[:2]:
                rgb = cv2.resize(rgb, picture.shape[1::-1], interpolation=cv2.INTER_AREA)
            picture = np.concatenate([rgb, picture], axis=1)
        return picture

    def write(self, packet) -> None:
        import cv2

        if packet.depth is None:
            return
        picture = self._picture(packet)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = picture.shape[:2]
            self._size = (width - width % 2, height - height % 2)     # codecs like even sizes
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise OSError(f"OpenCV cannot write {self.path} (mp4v)")
        if picture.shape[1::-1] != self._size:
            picture = cv2.resize(picture, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(picture[..., ::-1]))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


# ------------------------------------------------------------------------------ ROS 2 bag
TOPICS = {
    "color": ("/camera/color/image_raw", "sensor_msgs/msg/Image"),
    "depth": ("/camera/depth/image_raw", "sensor_msgs/msg/Image"),
    "camera_info": ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
    "pose": ("/camera/pose", "geometry_msgs/msg/PoseStamped"),
    "tf": ("/tf", "tf2_msgs/msg/TFMessage"),
    "map": ("/edgegeo/map/points", "sensor_msgs/msg/PointCloud2"),
}
CAMERA_FRAME = "camera_color_optical_frame"
MAP_FRAME = "map"


class RosBagSink(Sink):
    """A ROS 2 bag in MCAP storage (``rosbags``, no ROS installation needed).

    Per packet: colour (``rgb8``), depth (``16UC1`` millimetres, registered to the colour
    image, 0 = invalid), ``CameraInfo`` (plumb-bob, no distortion), and when the frame has a
    pose, ``PoseStamped`` and a ``/tf`` transform ``map → camera_color_optical_frame``. The
    fused map (``PointCloud2``: x, y, z, rgb in ``map``) is written every ``map_every_s``
    seconds and at the end when ``fuse`` is given. Stamps are the frames' source timestamps.

    Args:
        path: the bag folder to create (``metadata.yaml`` + ``.mcap`` inside); if it exists,
            a time-stamped sibling is used instead.
        fuse: the pipeline's fuse stage (for the map cloud), or None.
        map_every_s: map cloud period; 0 = only at the end.
        max_map_points: the cloud is subsampled to at most this many points.
    """

    name = "rosbag"

    def __init__(self, path: str | Path, fuse=None, map_every_s: float = 10.0,
                 max_map_points: int = 200_000):
        self.path = Path(path)
        self.fuse, self.map_every_s, self.max_map_points = fuse, float(map_every_s), max_map_points
        self._writer = None
        self._connections: dict = {}
        self._store = None
        self._last_map = time.monotonic()
        self._last_stamp_ns = 0
        self._mapped_frames = 0
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
            if key == "map" and self.fuse is None:
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
        if frame.world_T_cam is not None:
            (tx, ty, tz), quaternion = self._pose_parts(np.asarray(frame.world_T_cam))
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

    def tick(self) -> None:
        if (self.fuse is not None and self._writer is not None and self.map_every_s > 0
                and time.monotonic() - self._last_map >= self.map_every_s):
            self.write_map()

    def write_map(self) -> bool:
        """Write the fused map now (if anything new was fused); True if written."""
        self._last_map = time.monotonic()
        if self.fuse is None or self.fuse.frames_fused in (0, self._mapped_frames):
            return False
        self._mapped_frames = self.fuse.frames_fused
        mesh = self.fuse.mesh()
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
            if self.fuse is not None:
                self.write_map()
        finally:
            self._writer.close()
            self._writer = None
