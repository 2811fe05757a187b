"""Intel RealSense cameras and recordings: ``realsense://[serial]`` and ``file://REC.db3|.bag``.

One code path for every way frames arrive. A *backend* produces librealsense framesets:

* :class:`PipelineBackend` — ``rs.pipeline`` on a live camera;
* :class:`PlaybackBackend` — a recording's playback device, played back as fast as consumed
  (lossless) or in real time;
* :class:`SyncerBackend` — an ``rs.syncer`` fed by a :class:`~.software_camera.SoftwareCamera`
  (pyrealsense2 ``software_device``), how the camera path is tested without hardware.

:class:`RealSenseSource` turns framesets into :class:`SourceRecord`: depth aligned to colour
with ``rs.align``, scaled to metres with the device's depth units, colour as RGB, the colour
intrinsics read from the stream profile, the infrared pair with its intrinsics and baseline.
Incomplete framesets and camera frame-number gaps are reported as dropped, unreadable frames as
corrupt; on a live camera a run of timeouts triggers a reconnect, and only when reconnecting
fails does the source raise :class:`SourceError`.

Note: librealsense 2.56+ records ROS 2 ``.db3`` files; it still plays legacy ROS 1 ``.bag``.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgegeo.data.frame import Frame

from .base import Source, SourceError, SourceRecord

NO_CAMERA_HELP = ("check the USB cable (USB 3 port), `rs-enumerate-devices`, and that the udev "
                  "rules are installed (devices/99-realsense-edgegeo.rules)")


def _rs():
    try:
        import pyrealsense2 as rs
    except ImportError as exc:      # pragma: no cover - it is a dependency
        raise SourceError("pyrealsense2 is not installed (pip install pyrealsense2; on Jetson "
                          "build librealsense with -DBUILD_PYTHON_BINDINGS=ON)") from exc
    return rs


def K_from_rs(intrinsics) -> np.ndarray:
    """``(3,3) float64`` K from ``rs.intrinsics`` (same pixel-centre convention as OpenCV)."""
    return np.array([[intrinsics.fx, 0.0, intrinsics.ppx],
                     [0.0, intrinsics.fy, intrinsics.ppy],
                     [0.0, 0.0, 1.0]])


# ----------------------------------------------------------------------------------- backends
class PipelineBackend:
    """Framesets from ``rs.pipeline`` on a live camera (``serial`` or the first one found).

    librealsense keeps only the newest frameset for a slow consumer; the frames it drops show
    up as frame-number gaps, which the source reports as dropped.

    Args:
        serial: camera serial number; None = the first camera.
        width, height, fps: stream format (depth, colour and infrared).
        infrared: also stream the infrared pair.
    """

    live = True
    restart_timeout_s = 10.0

    def __init__(self, serial: str | None = None, width: int = 640, height: int = 480,
                 fps: int = 30, infrared: bool = True):
        self.serial = serial
        self.format = (int(width), int(height), int(fps))
        self.infrared = infrared
        self._pipe = None
        self.info: dict = {}

    def _config(self):
        rs = _rs()
        config = rs.config()
        ctx = rs.context()
        serials = [d.get_info(rs.camera_info.serial_number) for d in ctx.query_devices()]
        if not serials:
            raise SourceError(f"no RealSense camera connected ({NO_CAMERA_HELP})")
        if self.serial and self.serial not in serials:
            raise SourceError(f"no RealSense camera with serial {self.serial}; connected: "
                              f"{', '.join(serials)}")
        if self.serial:
            config.enable_device(self.serial)
        width, height, fps = self.format
        config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
        config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
        if self.infrared:
            config.enable_stream(rs.stream.infrared, 1, width, height, rs.format.y8, fps)
            config.enable_stream(rs.stream.infrared, 2, width, height, rs.format.y8, fps)
        return config

    def start(self) -> None:
        rs = _rs()
        config = self._config()
        pipe = rs.pipeline()
        try:
            profile = pipe.start(config)
        except RuntimeError as exc:
            raise SourceError(f"cannot start the RealSense camera: {exc}") from None
        self._pipe = pipe
        self.info = _device_info(profile.get_device(), profile.get_streams())

    def wait(self, timeout_s: float):
        """The next frameset, or None after ``timeout_s``."""
        ok, frames = self._pipe.try_wait_for_frames(int(timeout_s * 1000))
        return frames if ok else None

    def ended(self) -> bool:
        return False

    def restart(self) -> None:
        """Stop, wait (up to ``restart_timeout_s``) for the camera to be back (same serial),
        start again."""
        rs = _rs()
        self.stop()
        if self.serial is None and self.info.get("serial"):
            self.serial = self.info["serial"]
        deadline = time.monotonic() + self.restart_timeout_s
        while time.monotonic() < deadline:
            serials = [d.get_info(rs.camera_info.serial_number)
                       for d in rs.context().query_devices()]
            if (not self.serial and serials) or self.serial in serials:
                self.start()
                return
            time.sleep(0.5)
        raise SourceError(f"RealSense camera {self.serial or ''} did not come back within "
                          f"{self.restart_timeout_s:.0f} s")

    def stop(self) -> None:
        if self._pipe is not None:
            try:
                self._pipe.stop()
            except RuntimeError:
                pass
            self._pipe = None


class PlaybackBackend:
    """Framesets from a recording (``.db3``, or a legacy ROS 1 ``.bag``).

    The playback device's sensors feed an ``rs.syncer`` directly (not ``rs.pipeline``, whose
    one-frame output queue loses frames when the consumer is slower than the file is read).
    Not in real time, librealsense marks the frames *blocking*: the file is read only as fast
    as frames are consumed and none is lost. In real time, frames come at the recorded pace and
    a slow consumer loses some, as with a live camera.

    Args:
        file: the recording.
        realtime: play at the recorded pace.
    """

    live = False

    def __init__(self, file: str | Path, realtime: bool = False):
        self.file, self.realtime = Path(file), bool(realtime)
        self._ctx = self._playback = self._syncer = None
        self._sensors: list = []
        self._ended = False
        self._stopped_since: float | None = None
        self.end_grace_s = 0.3
        self.info: dict = {}

    def start(self) -> None:
        rs = _rs()
        self._ctx = rs.context()
        try:
            device = self._ctx.load_device(str(self.file))
        except RuntimeError as exc:
            raise SourceError(f"cannot play {self.file}: {exc}") from None
        self._playback = device.as_playback()
        self._playback.set_real_time(self.realtime)
        self._syncer = rs.syncer(1)
        streams = []
        for sensor in self._playback.query_sensors():
            profiles = sensor.get_stream_profiles()
            if profiles:
                sensor.open(profiles)
                self._sensors.append(sensor)
                streams += profiles
        if not self._sensors:
            raise SourceError(f"{self.file}: the recording holds no streams")
        for sensor in self._sensors:
            sensor.start(self._syncer)
        self.info = _device_info(self._playback, streams)

    def wait(self, timeout_s: float):
        """The next frameset, or None after ``timeout_s`` or at the end of the file."""
        rs = _rs()
        deadline = time.monotonic() + timeout_s
        while True:                                    # short waits: notice the end quickly
            ok, frames = self._syncer.try_wait_for_frames(100)
            now = time.monotonic()
            if ok:
                self._stopped_since = None
                return frames.as_frameset()
            # "stopped": the reader reached the end of the file; the syncer may still hold a
            # frameset, so end after a quiet grace period.
            if self._playback.current_status() == rs.playback_status.stopped:
                if self._stopped_since is None:
                    self._stopped_since = now
                elif now - self._stopped_since > self.end_grace_s:
                    self._ended = True
                    return None
            if now > deadline:
                return None

    def ended(self) -> bool:
        return self._ended

    def restart(self) -> None:
        raise SourceError(f"{self.file}: a recording cannot reconnect")

    def stop(self) -> None:
        for sensor in self._sensors:
            try:
                sensor.stop()
                sensor.close()
            except RuntimeError:
                pass
        self._sensors = []
        self._playback = self._syncer = self._ctx = None


def _device_info(device, streams) -> dict:
    rs = _rs()

    def info(key):
        return device.get_info(key) if device.supports(key) else None

    return {"name": info(rs.camera_info.name), "serial": info(rs.camera_info.serial_number),
            "firmware": info(rs.camera_info.firmware_version),
            "streams": [str(s.stream_type()).split(".")[-1] + f"({s.stream_index()})"
                        for s in streams]}


class SyncerBackend:
    """Framesets from a :class:`~.software_camera.SoftwareCamera` (its ``rs.syncer``)."""

    live = True

    def __init__(self, camera, restart_timeout_s: float = 10.0):
        self.camera = camera
        self.restart_timeout_s = restart_timeout_s
        self.info = {"name": camera.name, "serial": camera.serial, "streams": camera.stream_names}

    def start(self) -> None:
        pass

    def wait(self, timeout_s: float):
        deadline = time.monotonic() + timeout_s
        while True:                       # short waits: notice a closed camera quickly
            ok, frames = self.camera.syncer.try_wait_for_frames(50)
            if ok:
                return frames.as_frameset()
            if self.camera.closed or time.monotonic() > deadline:
                return None

    def ended(self) -> bool:
        return self.camera.closed

    def restart(self) -> None:
        if not self.camera.wait_connected(self.restart_timeout_s):
            raise SourceError(f"software camera {self.camera.serial} did not come back within "
                              f"{self.restart_timeout_s:g} s")

    def stop(self) -> None:
        pass


# ------------------------------------------------------------------------------------ source
class RealSenseSource(Source):
    """Frames from a RealSense backend, aligned and scaled (see the module docstring).

    Args:
        backend: a :class:`PipelineBackend` or :class:`SyncerBackend`.
        uri: for messages.
        align: align depth to colour (default). Without, depth stays in the depth camera's
            geometry, the frame's rgb is the left infrared image and, with the infrared pair
            streaming, ``record.right`` is the right one: a rectified pair for the stereo
            pipeline (``has_stereo``).
        timeout_s: wait this long for a frameset before reporting a timeout.
        reconnect_after: consecutive timeouts before a live camera is restarted.
        max_reconnects: reconnections tried in a row before giving up (``SourceError``).
    """

    kind = "realsense"
    has_depth = True
    has_pose = False

    def __init__(self, backend, uri: str, align: bool = True, timeout_s: float = 5.0,
                 reconnect_after: int = 3, max_reconnects: int = 3):
        super().__init__(uri)
        self.backend = backend
        self.live = backend.live
        self.align = align
        self.timeout_s, self.reconnect_after = float(timeout_s), int(reconnect_after)
        self.max_reconnects = int(max_reconnects)
        self.state = "streaming"      # or "waiting" (timeouts), "reconnecting"
        self._aligner = None
        self._last_number: int | None = None
        self._partials: dict[int, str] = {}       # incomplete framesets not yet accounted
        self._warned_distortion = False
        backend.start()
        streams = [name.lower() for name in backend.info.get("streams", [])]
        self._has_color = any(name.startswith("color") for name in streams)
        self.has_stereo = ({"infrared(1)", "infrared(2)"} <= set(streams)
                           and not (self._has_color and align))

    def describe(self) -> dict:
        return {**super().describe(), "device": dict(self.backend.info)}

    def _records(self) -> Iterator[SourceRecord]:
        timeouts = 0
        while not self.stopping:
            try:
                frames = self._wait_frames()
            except RuntimeError as exc:            # device unplugged mid-wait, etc.
                frames = None
                self.report("warning", None, f"wait for frames failed: {exc}")
            if frames is None:
                if self.backend.ended() or self.stopping:
                    self._account_partials(None)
                    return
                timeouts += 1
                self.state = "waiting"
                self.report("timeout", None, f"no frames for {self.timeout_s:g} s")
                if self.live and timeouts >= self.reconnect_after:
                    self.state = "reconnecting"
                    self._reconnect()
                    timeouts = 0
                continue
            timeouts = 0
            self.state = "streaming"
            try:
                record = self._convert(frames)
            except (RuntimeError, ValueError) as exc:
                self.report("corrupt", None, f"unreadable frameset skipped: {exc}")
                continue
            if record is not None:
                yield record

    def _wait_frames(self):
        """The next frameset, or None after ``timeout_s``; waits in short steps so that a
        stop request is noticed within ~0.1 s."""
        deadline = time.monotonic() + self.timeout_s
        while not self.stopping:
            step = min(0.1, max(deadline - time.monotonic(), 0.001))
            frames = self.backend.wait(step)
            if frames is not None or self.backend.ended() or time.monotonic() >= deadline:
                return frames
        return None

    def _reconnect(self) -> None:
        for attempt in range(1, self.max_reconnects + 1):
            if self.stopping:
                return
            try:
                self.backend.restart()
            except (SourceError, RuntimeError) as exc:
                self.report("warning", None, f"reconnect attempt {attempt} failed: {exc}")
                continue
            self.report("reconnect", None, f"camera reconnected (attempt {attempt})")
            return
        raise SourceError(f"{self.uri}: camera lost, {self.max_reconnects} reconnection "
                          f"attempts failed")

    # ------------------------------------------------------------------ conversion
    def _convert(self, frames) -> SourceRecord | None:
        rs = _rs()
        frames = frames.as_frameset()
        depth = frames.get_depth_frame()
        color = frames.get_color_frame()
        ir_left = frames.get_infrared_frame(1)
        ir_right = frames.get_infrared_frame(2)
        reference = color if self._has_color else ir_left
        if not depth or not reference:
            # A syncer can split one frame's streams over several framesets (always the first
            # frame, when it does not know the streams yet; sometimes a stray one that is then
            # delivered whole). Account for it once the next complete frameset shows whether
            # it was lost (see _account_partials).
            number = int((reference or frames).get_frame_number())
            missing = [name for name, f in (("depth", depth), ("colour", color),
                                            ("infrared", ir_left)) if not f]
            self._partials.setdefault(number, ", ".join(missing))
            return None
        number = int(reference.get_frame_number())
        self._account_partials(number)
        if color and self.align:
            if self._aligner is None:
                self._aligner = rs.align(rs.stream.color)
            depth = self._aligner.process(frames).as_frameset().get_depth_frame()
            if not depth:
                self.report("dropped", number, "alignment produced no depth")
                return None
            rgb = _rgb_of(color)
            K = self._K_of(color)
        else:                                      # depth geometry: IR 1 is registered to it
            rgb = _rgb_of_grey(_grey_of(ir_left)) if ir_left else None
            if rgb is None:
                self.report("dropped", number, "no colour and no infrared image to pair with "
                                               "depth")
                return None
            K = self._K_of(depth)
        units = float(depth.get_units())
        raw = np.asanyarray(depth.get_data())
        depth_m = raw.astype(np.float32) * np.float32(units)
        if depth_m.shape != rgb.shape[:2]:
            raise ValueError(f"depth {depth_m.shape} and colour {rgb.shape[:2]} sizes differ "
                             "after alignment")
        timestamp = reference.get_timestamp() / 1000.0
        record = SourceRecord(Frame(rgb=rgb, K=K, depth=depth_m, timestamp=timestamp),
                              int(number), depth_scale=units)
        if ir_left and ir_right:
            record.ir_left, record.ir_right = _grey_of(ir_left), _grey_of(ir_right)
            record.ir_K = self._K_of(ir_left)
            record.baseline_m = _baseline(ir_left, ir_right)
            if not (color and self.align):         # the frame is IR 1: IR 2 completes the pair
                record.right = _rgb_of_grey(record.ir_right)
        return record

    def _account_partials(self, number: int | None) -> None:
        """Count the frames lost before complete frameset ``number`` (None: end of stream):
        camera frame-number gaps, and incomplete framesets that were never completed."""
        last = self._last_number
        partials = self._partials
        if number is None:                                   # end of stream
            lost = sorted(p for p in partials if last is None or p > last)
            if lost:
                self.report("dropped", lost[0], f"{len(lost)} incomplete frameset(s) at the "
                                                f"end of the stream", count=len(lost))
            partials.clear()
            return
        if last is None:
            lost = sorted(p for p in partials if p < number)
            if lost:
                self.report("dropped", lost[0], f"{len(lost)} incomplete frameset(s) before "
                            f"the first complete one (the syncer learns the streams from the "
                            f"first frames; missing {partials[lost[0]]})", count=len(lost))
        elif number > last + 1:
            incomplete = sorted(p for p in partials if last < p < number)
            detail = f"; incomplete: {incomplete}" if incomplete else ""
            self.report("dropped", number, f"lost {number - last - 1} frame(s) ({last} -> "
                                           f"{number}){detail}", count=number - last - 1)
        self._partials = {p: m for p, m in partials.items() if p > number}
        self._last_number = number

    def _K_of(self, frame) -> np.ndarray:
        intrinsics = frame.profile.as_video_stream_profile().get_intrinsics()
        if not self._warned_distortion and any(abs(c) > 1e-6 for c in intrinsics.coeffs):
            self._warned_distortion = True
            self.report("warning", None, f"{frame.profile.stream_name()} has lens distortion "
                                         f"{list(intrinsics.coeffs)}; edgegeo treats it as a "
                                         "pinhole")
        return K_from_rs(intrinsics)

    def close(self) -> None:
        self.backend.stop()


def _rgb_of(color) -> np.ndarray:
    import cv2

    rs = _rs()
    image = np.asanyarray(color.get_data())
    fmt = color.profile.format()
    if fmt == rs.format.rgb8:
        return image.copy()
    if fmt == rs.format.bgr8:
        return np.ascontiguousarray(image[..., ::-1])
    if fmt == rs.format.rgba8:
        return np.ascontiguousarray(image[..., :3])
    if fmt == rs.format.bgra8:
        return np.ascontiguousarray(image[..., 2::-1])
    if fmt == rs.format.yuyv:
        return cv2.cvtColor(image.reshape(image.shape[0], -1, 2), cv2.COLOR_YUV2RGB_YUYV)
    raise ValueError(f"unsupported colour format {fmt}")


def _rgb_of_grey(grey: np.ndarray) -> np.ndarray:
    """``(h, w) uint8`` → ``(h, w, 3) uint8`` with the grey value in every channel."""
    return np.repeat(grey[..., None], 3, axis=2)


def _grey_of(frame) -> np.ndarray:
    image = np.asanyarray(frame.get_data())
    if image.dtype == np.uint16:                      # y16 infrared
        image = (image >> 8).astype(np.uint8)
    return image.copy()


def _baseline(ir_left, ir_right) -> float | None:
    """Metres between the infrared cameras (right at +x of left), from their extrinsics."""
    try:
        extrinsics = ir_left.profile.get_extrinsics_to(ir_right.profile)
    except RuntimeError:
        return None
    baseline = -float(extrinsics.translation[0])
    return baseline if baseline > 0 else None


# ------------------------------------------------------------------------------------ openers
def open_realsense(serial: str = "", uri: str | None = None, width: int = 640,
                   height: int = 480, fps: int = 30, infrared: bool = True,
                   align: bool = True, timeout_s: float = 5.0) -> RealSenseSource:
    """A live RealSense camera (``realsense://[serial]``)."""
    backend = PipelineBackend(serial=serial or None, width=width, height=height, fps=fps,
                              infrared=infrared)
    return RealSenseSource(backend, uri or f"realsense://{serial}", align=align,
                           timeout_s=timeout_s)


def open_recording(path: str | Path, uri: str | None = None, realtime: bool = False,
                   align: bool = True) -> RealSenseSource:
    """A RealSense recording (``file://REC.db3`` or legacy ``.bag``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"RealSense recording not found: {path}")
    backend = PlaybackBackend(path, realtime=realtime)
    return RealSenseSource(backend, uri or f"file://{path}", align=align, timeout_s=2.0)
