"""File sources: videos, image folders, posed RGB-D folders (TUM, ScanNet-style, synthetic
shards).

They are played back as fast as the pipeline consumes them, or at the pace of their
timestamps with ``realtime=True``. A frame that cannot be read (corrupt or missing file) is
reported as ``corrupt`` and skipped.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from edgegeo.data.frame import Frame

from .base import Pacer, Source, SourceError, SourceRecord, intrinsics_for


class VideoSource(Source):
    """Frames of a video file (anything OpenCV's FFmpeg backend decodes), RGB only.

    Args:
        path: the video file.
        K: ``(fx, fy, cx, cy)`` of the camera; else a pinhole of ``hfov_deg`` (default 60°).
        fps: frame rate for timestamps and real-time pacing; default the container's (or 30).
        realtime: play at ``fps`` instead of as fast as consumed.
    """

    kind = "video"
    has_depth = False
    has_pose = False

    def __init__(self, path: str | Path, K=None, hfov_deg: float | None = None,
                 fps: float | None = None, realtime: bool = False, uri: str | None = None):
        from edgegeo.data.images import VideoReader

        super().__init__(uri or f"file://{path}")
        self._reader = VideoReader(path)            # raises FileNotFoundError / ValueError
        self.fps = float(fps or self._reader.fps or 30.0)
        self._K, self._hfov = K, hfov_deg
        self._pacer = Pacer(realtime, self)

    def _records(self) -> Iterator[SourceRecord]:
        K = None
        count = 0
        for index, rgb in enumerate(self._reader):
            if K is None:
                K = intrinsics_for(rgb.shape[1], rgb.shape[0], self._K, self._hfov)
            timestamp = index / self.fps
            if not self._pacer.pace(timestamp):
                return
            count += 1
            yield SourceRecord(Frame(rgb=rgb, K=K, timestamp=timestamp), index)
        declared = self._reader.frame_count
        if declared and count < declared - 1 and not self.stopping:
            # OpenCV stops at the first frame it cannot decode: say so instead of ending quietly.
            self.report("corrupt", count, f"video ended after {count} of {declared} declared "
                                          f"frames (truncated or corrupt file)",
                        count=declared - count)

    def close(self) -> None:
        self._reader.close()


class ImageFolderSource(Source):
    """The images of a folder in natural name order, RGB only (see ``ImageFolder``).

    Args:
        folder: the folder.
        K / hfov_deg: camera intrinsics, as for :class:`VideoSource`.
        fps: frame rate for timestamps and ``realtime`` pacing (default 30).
    """

    kind = "images"
    has_depth = False
    has_pose = False

    def __init__(self, folder: str | Path, K=None, hfov_deg: float | None = None,
                 fps: float = 30.0, realtime: bool = False, uri: str | None = None):
        from edgegeo.data.images import ImageFolder

        super().__init__(uri or f"file://{folder}")
        self._folder = ImageFolder(folder)          # raises FileNotFoundError / ValueError
        self.fps = float(fps)
        self._K, self._hfov = K, hfov_deg
        self._pacer = Pacer(realtime, self)

    def __len__(self) -> int:
        return len(self._folder)

    def _records(self) -> Iterator[SourceRecord]:
        from edgegeo.data.images import load_image

        K = None
        for index, path in enumerate(self._folder.paths):
            try:
                rgb = load_image(path)
            except (OSError, ValueError) as exc:
                self.report("corrupt", index, f"skipped: {exc}")
                continue
            if K is None:
                K = intrinsics_for(rgb.shape[1], rgb.shape[0], self._K, self._hfov)
            timestamp = index / self.fps
            if not self._pacer.pace(timestamp):
                return
            yield SourceRecord(Frame(rgb=rgb, K=K, timestamp=timestamp), index,
                               extra={"path": str(path)})


class PosedFolderSource(Source):
    """A posed RGB-D sequence folder (``open_posed_sequence``): synthetic shard, TUM RGB-D or
    ScanNet-style export. Frames carry depth, pose and K (and GT normals/instances for shards).

    Args:
        folder: the sequence folder.
        realtime: pace by the frames' timestamps.
        options: passed to the TUM / ScanNet readers (e.g. ``intrinsics`` for TUM).
    """

    kind = "posed-folder"

    def __init__(self, folder: str | Path, realtime: bool = False, uri: str | None = None,
                 **options):
        from edgegeo.data.sequences import open_posed_sequence

        super().__init__(uri or f"file://{folder}")
        self._sequence = open_posed_sequence(folder, **options)
        if len(self._sequence) == 0:
            raise ValueError(f"{folder}: the sequence has no frames")
        first = self._sequence[0]
        self.has_depth = first.depth is not None
        self.has_pose = first.world_T_cam is not None
        self._pacer = Pacer(realtime, self)

    def __len__(self) -> int:
        return len(self._sequence)

    def _records(self) -> Iterator[SourceRecord]:
        for index in range(len(self._sequence)):
            try:
                frame = self._sequence[index]
            except (OSError, ValueError) as exc:
                self.report("corrupt", index, f"skipped: {exc}")
                continue
            if not self._pacer.pace(frame.timestamp):
                return
            yield SourceRecord(frame, index)


def is_posed_folder(folder: Path) -> bool:
    """True if ``folder`` is a layout ``open_posed_sequence`` reads."""
    from edgegeo.data.scannet import is_scannet_sequence
    from edgegeo.data.tum import is_tum_sequence

    return (folder / "meta.npz").is_file() or is_tum_sequence(folder) or is_scannet_sequence(folder)


def open_folder(folder: Path, uri: str, realtime: bool = False, K=None,
                hfov_deg: float | None = None, fps: float | None = None) -> Source:
    """A posed RGB-D folder source if the layout is one we read, else an image-folder source."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{uri}: folder not found: {folder}")
    if is_posed_folder(folder):
        from edgegeo.data.tum import is_tum_sequence

        options = {}
        if K is not None:
            if not is_tum_sequence(folder):
                raise ValueError(f"{uri}: K= applies to TUM folders only (this layout stores its "
                                 "intrinsics)")
            options["intrinsics"] = intrinsics_for(1, 1, K)
        return PosedFolderSource(folder, realtime=realtime, uri=uri, **options)
    return ImageFolderSource(folder, K=K, hfov_deg=hfov_deg, fps=fps or 30.0,
                             realtime=realtime, uri=uri)


__all__ = ["VideoSource", "ImageFolderSource", "PosedFolderSource", "open_folder",
           "is_posed_folder", "SourceError"]
