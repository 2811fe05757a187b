"""Plain cameras through OpenCV: ``v4l2:///dev/videoN`` (USB/UVC webcams, V4L2 backend) and
``csi://N`` (Jetson CSI cameras through GStreamer's ``nvarguscamerasrc``).

These deliver colour only; their intrinsics are not known (pass ``K=fx,fy,cx,cy`` or
``hfov=``). A read that fails is reported as a timeout; after ``reconnect_after`` failures in a
row the device is reopened, and after ``max_reconnects`` failed reopenings the source gives up
with :class:`SourceError`.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

from edgegeo.data.frame import Frame

from .base import Source, SourceError, SourceRecord, intrinsics_for


def gstreamer_available() -> bool:
    """True if this OpenCV build can open GStreamer pipelines."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line
    return False


def csi_pipeline(sensor_id: int, width: int, height: int, fps: int, flip: int = 0) -> str:
    """The GStreamer pipeline string that reads Jetson CSI camera ``sensor_id`` as BGR."""
    return (f"nvarguscamerasrc sensor-id={sensor_id} ! video/x-raw(memory:NVMM), width={width}, "
            f"height={height}, framerate={fps}/1, format=NV12 ! nvvidconv flip-method={flip} ! "
            f"video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
            f"appsink drop=true max-buffers=1")


class CaptureSource(Source):
    """A live camera read with ``cv2.VideoCapture``.

    Args:
        target: a device path (``/dev/video0``), an index, or a GStreamer pipeline string.
        backend: ``cv2.CAP_V4L2`` / ``cv2.CAP_GSTREAMER`` / ``cv2.CAP_ANY``.
        width, height, fps: requested format (V4L2: a request the driver may round).
        K / hfov_deg: intrinsics as for video files.
    """

    kind = "capture"
    live = True
    has_depth = False
    has_pose = False

    def __init__(self, target, backend: int, uri: str, width: int | None = None,
                 height: int | None = None, fps: float | None = None, K=None,
                 hfov_deg: float | None = None, reconnect_after: int = 30,
                 max_reconnects: int = 3):
        super().__init__(uri)
        self._target, self._backend = target, backend
        self._format = (width, height, fps)
        self._K, self._hfov = K, hfov_deg
        self.reconnect_after, self.max_reconnects = reconnect_after, max_reconnects
        self._capture = self._open()

    def _open(self):
        import cv2

        capture = cv2.VideoCapture(self._target, self._backend)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.uri}: cannot open the camera (no such device, busy, or "
                              "this OpenCV build lacks the backend)")
        width, height, fps = self._format
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            capture.set(cv2.CAP_PROP_FPS, fps)
        return capture

    def _records(self) -> Iterator[SourceRecord]:
        from edgegeo.data.images import to_rgb_uint8

        K, shape, index, failures, reconnects = None, None, 0, 0, 0
        start = time.monotonic()
        while not self.stopping:
            ok, image = self._capture.read()
            if not ok or image is None:
                failures += 1
                self.report("timeout", index, "camera read failed")
                if failures >= self.reconnect_after:
                    reconnects += 1
                    if reconnects > self.max_reconnects:
                        raise SourceError(f"{self.uri}: camera lost ({failures} failed reads, "
                                          f"{self.max_reconnects} reconnections tried)")
                    self._capture.release()
                    if not self._wait(1.0):
                        return
                    try:
                        self._capture = self._open()
                        self.report("reconnect", index, "camera reopened")
                        failures = 0
                    except SourceError:
                        pass
                continue
            failures = 0
            try:
                rgb = to_rgb_uint8(image, self.uri)
            except ValueError as exc:
                self.report("corrupt", index, str(exc))
                index += 1
                continue
            if rgb.shape[:2] != shape:
                shape = rgb.shape[:2]
                K = intrinsics_for(rgb.shape[1], rgb.shape[0], self._K, self._hfov)
            yield SourceRecord(Frame(rgb=rgb, K=K, timestamp=time.monotonic() - start), index)
            index += 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def open_v4l2(device: str, uri: str, **options) -> CaptureSource:
    """``v4l2:///dev/videoN`` (or ``v4l2://N``)."""
    import cv2

    target: str | int = device
    if device.isdigit():
        target = int(device)
    elif not device.startswith("/dev/"):
        raise ValueError(f"{uri}: expected v4l2:///dev/videoN or v4l2://N, got device {device!r}")
    return CaptureSource(target, cv2.CAP_V4L2, uri, **options)


def open_csi(sensor: str, uri: str, width: int | None = None, height: int | None = None,
             fps: float | None = None, flip: int = 0, **options) -> CaptureSource:
    """``csi://N``: Jetson CSI camera ``N`` through GStreamer (``nvarguscamerasrc``)."""
    import cv2

    if not sensor.isdigit():
        raise ValueError(f"{uri}: expected csi://N with N the sensor id, got {sensor!r}")
    if not gstreamer_available():
        raise SourceError(f"{uri}: this OpenCV build has no GStreamer support, which CSI cameras "
                          "need; on a Jetson use the JetPack OpenCV (python3-opencv) or build "
                          "OpenCV with -DWITH_GSTREAMER=ON")
    pipeline = csi_pipeline(int(sensor), width or 1280, height or 720, int(fps or 30), flip)
    return CaptureSource(pipeline, cv2.CAP_GSTREAMER, uri, **options)
