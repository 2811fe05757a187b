"""A RealSense camera made in software: pyrealsense2's ``software_device`` with a colour sensor
and a stereo-depth sensor (depth + infrared pair), fed with arrays you push.

It runs the camera path of :class:`~.realsense.RealSenseSource` without hardware — frames go
through a librealsense syncer, ``rs.align`` and the device's depth units exactly as a live
camera's do — and it can record what it streams to a ``.db3`` file that ``file://`` plays back.
Use it in tests, or to bring frames of another camera into the RealSense processing chain.

    camera = SoftwareCamera(color_K, (640, 480), depth_K, (640, 480), color_T_depth=T)
    source = camera.open_source()
    for rgb, depth_m in frames:          # depth in metres, in the depth camera's geometry
        camera.push(rgb, depth_m)
    camera.close()
    records = list(source)               # depth aligned to colour, metres, K of the colour

As with a live camera, the syncer learns the streams from the first frame set and splits it:
frame 0 is reported as dropped and the stream starts at frame 1.
"""
from __future__ import annotations

import collections
import gc
import threading
from pathlib import Path

import numpy as np

from .realsense import RealSenseSource, SyncerBackend, _rs


def _rs_intrinsics(K, size: tuple[int, int]):
    rs = _rs()
    K = np.asarray(K, dtype=np.float64)
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = int(size[0]), int(size[1])
    intrinsics.fx, intrinsics.fy = float(K[0, 0]), float(K[1, 1])
    intrinsics.ppx, intrinsics.ppy = float(K[0, 2]), float(K[1, 2])
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [0.0] * 5
    return intrinsics


def _rs_extrinsics(b_T_a):
    """librealsense extrinsics from stream a to stream b (points a → b); column-major R."""
    rs = _rs()
    b_T_a = np.asarray(b_T_a, dtype=np.float64)
    extrinsics = rs.extrinsics()
    extrinsics.rotation = [float(v) for v in b_T_a[:3, :3].T.ravel()]
    extrinsics.translation = [float(v) for v in b_T_a[:3, 3]]
    return extrinsics


class SoftwareCamera:
    """A software RealSense: colour + depth (+ infrared pair), intrinsics, extrinsics, units.

    Args:
        color_K: ``(3,3)`` intrinsics of the colour camera.
        color_size: colour image ``(width, height)``.
        depth_K, depth_size: of the depth camera (default: the colour camera's).
        color_T_depth: ``(4,4)`` transform from the depth camera frame to the colour camera
            frame, metres (default identity: co-located).
        depth_units: metres per raw depth unit (RealSense default 0.001).
        fps: nominal frame rate (the syncer matches frames by timestamps spaced 1/fps).
        infrared: add the infrared pair (same intrinsics as depth; left = the depth camera).
        baseline_m: infrared stereo baseline.
        serial, name: device info.
        record_to: record everything streamed to this ``.db3`` file.
        queue_size: frames the syncer holds before dropping (a live camera holds few).
    """

    def __init__(self, color_K, color_size: tuple[int, int], depth_K=None,
                 depth_size: tuple[int, int] | None = None, color_T_depth=None,
                 depth_units: float = 0.001, fps: int = 30, infrared: bool = True,
                 baseline_m: float = 0.05, serial: str = "000000000000",
                 name: str = "edgegeo SoftwareCamera", record_to: str | Path | None = None,
                 queue_size: int = 64):
        rs = _rs()
        self.color_size = tuple(int(v) for v in color_size)
        self.depth_size = tuple(int(v) for v in (depth_size or color_size))
        self.color_K = np.asarray(color_K, dtype=np.float64)
        self.depth_K = self.color_K if depth_K is None else np.asarray(depth_K, dtype=np.float64)
        self.depth_units, self.fps = float(depth_units), int(fps)
        self.infrared, self.baseline_m = infrared, float(baseline_m)
        self.serial, self.name = serial, name
        self.closed = False
        self._connected = threading.Event()
        self._connected.set()
        self._number = 0
        self._keep = collections.deque(maxlen=4 * queue_size)    # pixel buffers stay alive

        device = rs.software_device()
        device.register_info(rs.camera_info.name, name)
        device.register_info(rs.camera_info.serial_number, serial)
        device.register_info(rs.camera_info.product_line, "D400")
        self._depth_sensor = device.add_sensor("Stereo Module")
        self._color_sensor = device.add_sensor("RGB Camera")
        self._depth_profile = self._add_stream(self._depth_sensor, rs.stream.depth, 0, 0,
                                               rs.format.z16, 2, self.depth_K, self.depth_size,
                                               default=True)
        self._depth_sensor.add_read_only_option(rs.option.depth_units, self.depth_units)
        profiles = [self._depth_profile]
        self.stream_names = ["depth(0)", "color(0)"]
        if infrared:
            self._ir_profiles = [
                self._add_stream(self._depth_sensor, rs.stream.infrared, index, index,
                                 rs.format.y8, 1, self.depth_K, self.depth_size)
                for index in (1, 2)]
            profiles += self._ir_profiles
            self._depth_sensor.add_read_only_option(rs.option.stereo_baseline,
                                                    1000.0 * self.baseline_m)
            self.stream_names += ["infrared(1)", "infrared(2)"]
            self._depth_profile.register_extrinsics_to(self._ir_profiles[0],
                                                       _rs_extrinsics(np.eye(4)))
            right_T_left = np.eye(4)
            right_T_left[0, 3] = -self.baseline_m
            self._ir_profiles[0].register_extrinsics_to(self._ir_profiles[1],
                                                        _rs_extrinsics(right_T_left))
        self._color_profile = self._add_stream(self._color_sensor, rs.stream.color, 0, 3,
                                               rs.format.rgb8, 3, self.color_K,
                                               self.color_size, default=True)
        self._depth_profile.register_extrinsics_to(
            self._color_profile, _rs_extrinsics(np.eye(4) if color_T_depth is None
                                                else color_T_depth))
        self._device = device
        self._recorder = None
        if record_to is not None:
            try:
                self._recorder = rs.recorder(str(record_to), device)
            except RuntimeError as exc:
                raise ValueError(f"cannot record to {record_to}: {exc}") from None
        self.syncer = rs.syncer(queue_size)
        self._depth_sensor.open(profiles)
        self._color_sensor.open(self._color_profile)
        self._depth_sensor.start(self.syncer)
        self._color_sensor.start(self.syncer)

    def _add_stream(self, sensor, kind, index, uid, fmt, bpp, K, size, default=False):
        rs = _rs()
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid = kind, index, uid
        stream.width, stream.height = size
        stream.fps, stream.bpp, stream.fmt = self.fps, bpp, fmt
        stream.intrinsics = _rs_intrinsics(K, size)
        return sensor.add_video_stream(stream, default).as_video_stream_profile()

    # -------------------------------------------------------------------- streaming
    def push(self, rgb: np.ndarray, depth: np.ndarray, ir_left: np.ndarray | None = None,
             ir_right: np.ndarray | None = None, timestamp: float | None = None) -> int:
        """Stream one frame set; returns its frame number.

        Args:
            rgb: ``(H,W,3) uint8`` RGB at ``color_size``.
            depth: ``(h,w)`` float metres in the depth camera's geometry at ``depth_size``;
                0 or non-finite = invalid (stored as 0 raw units, as the camera does).
            ir_left, ir_right: ``(h,w) uint8`` infrared images (default black).
            timestamp: seconds (default ``frame_number / fps``).
        """
        if self.closed:
            raise RuntimeError("the software camera is closed")
        width, height = self.color_size
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        if rgb.shape != (height, width, 3):
            raise ValueError(f"rgb must be ({height}, {width}, 3), got {rgb.shape}")
        width, height = self.depth_size
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (height, width):
            raise ValueError(f"depth must be ({height}, {width}), got {depth.shape}")
        raw = np.where(np.isfinite(depth) & (depth > 0), np.round(depth / self.depth_units), 0)
        raw = np.clip(raw, 0, 65535).astype(np.uint16)
        number = self._number
        self._number += 1
        stamp_ms = 1000.0 * (number / self.fps if timestamp is None else timestamp)
        streams = [(self._depth_sensor, self._depth_profile, raw, 2)]
        if self.infrared:
            for profile, image in zip(self._ir_profiles, (ir_left, ir_right)):
                image = (np.zeros((height, width), np.uint8) if image is None
                         else np.ascontiguousarray(image, dtype=np.uint8))
                if image.shape != (height, width):
                    raise ValueError(f"infrared images must be ({height}, {width}), got "
                                     f"{image.shape}")
                streams.append((self._depth_sensor, profile, image, 1))
        streams.append((self._color_sensor, self._color_profile, rgb, 3))
        rs = _rs()
        for sensor, profile, pixels, bpp in streams:
            self._keep.append(pixels)
            frame = rs.software_video_frame()
            frame.pixels = pixels
            frame.bpp = bpp
            frame.stride = pixels.shape[1] * bpp
            frame.timestamp = stamp_ms
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = number
            frame.profile = profile
            # No "actual fps" metadata: else the syncer reads a stale value and stops matching.
            sensor.set_metadata(rs.frame_metadata_value.actual_fps, 0)
            sensor.on_video_frame(frame)
        return number

    def skip(self, frames: int = 1) -> None:
        """Lose ``frames`` frame numbers, as a camera dropping frames on the USB link does."""
        self._number += int(frames)

    def disconnect(self) -> None:
        """Simulate unplugging: the source times out and tries to reconnect."""
        self._connected.clear()

    def reconnect(self) -> None:
        self._connected.set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def open_source(self, uri: str | None = None, timeout_s: float = 1.0,
                    reconnect_after: int = 2, max_reconnects: int = 3,
                    reconnect_timeout_s: float = 10.0, align: bool = True) -> RealSenseSource:
        """The :class:`RealSenseSource` reading this camera (one per camera)."""
        return RealSenseSource(SyncerBackend(self, reconnect_timeout_s),
                               uri or f"software-realsense://{self.serial}", align=align,
                               timeout_s=timeout_s, reconnect_after=reconnect_after,
                               max_reconnects=max_reconnects)

    def close(self) -> None:
        """Stop streaming and finish the recording (if any). Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        for sensor in (self._depth_sensor, self._color_sensor):
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        if self._recorder is not None:
            self._recorder.pause()
            self._recorder = None
            gc.collect()                 # the recorder writes the file out when it is destroyed

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
