"""The depth sinks: every frame's depth as image files, or as a colour-mapped video."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Sink


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
