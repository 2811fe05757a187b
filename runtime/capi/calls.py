"""What the C functions of ``edgegeo.h`` do, on numpy arrays (the cffi glue in
:mod:`.build` turns the caller's pointers into these arrays without copying them)."""
from __future__ import annotations

import queue
import threading
import time

import numpy as np

from edgegeo.data.frame import Frame

from ..sources.base import Source, SourceRecord

PIPELINE_OPTIONS = {"fuse": bool, "track": bool, "voxel": float, "max_depth": float,
                    "device_profile": str, "out": str, "queue": int}


def rgb_view(buffer, height: int, width: int, row_stride_bytes: int, name: str = "rgb"
             ) -> np.ndarray:
    """``(H, W, 3) uint8`` view (no copy) of an interleaved RGB buffer whose rows are
    ``row_stride_bytes`` apart."""
    if height <= 0 or width <= 0:
        raise ValueError(f"{name}: height and width must be > 0, got {height}x{width}")
    if row_stride_bytes < 3 * width:
        raise ValueError(f"{name}: row_stride_bytes {row_stride_bytes} is shorter than a row "
                         f"of {width} RGB pixels ({3 * width} bytes)")
    flat = np.frombuffer(buffer, np.uint8)
    needed = row_stride_bytes * (height - 1) + 3 * width
    if flat.size < needed:
        raise ValueError(f"{name}: buffer of {flat.size} bytes, {needed} needed")
    return np.lib.stride_tricks.as_strided(flat, (height, width, 3), (row_stride_bytes, 3, 1),
                                           writeable=False)


def depth_map(model, rgb: np.ndarray) -> np.ndarray:
    """``eg_depth``: mono-depth relative disparity ``(H, W) float32``."""
    return np.asarray(model(rgb), np.float32)


def stereo_map(model, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``eg_stereo``: disparity of the left view, pixels, ``(H, W) float32``."""
    return np.asarray(model(left, right), np.float32)


def parse_options(text: str | None) -> dict:
    """The TOML options of ``eg_pipeline_open`` (keys: :data:`PIPELINE_OPTIONS`)."""
    try:
        import tomllib
    except ModuleNotFoundError:              # Python 3.10
        import tomli as tomllib
    if not text:
        return {}
    try:
        options = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"options_toml is not valid TOML: {exc}") from None
    for key, value in options.items():
        kind = PIPELINE_OPTIONS.get(key)
        if kind is None:
            raise ValueError(f"options_toml: unknown key {key!r}; use "
                             f"{', '.join(PIPELINE_OPTIONS)}")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"options_toml: {key} must be {kind.__name__}, got {value!r}")
        options[key] = value
    return options


class PushSource(Source):
    """Frames a caller pushes (``eg_pipeline_push_rgbd``); ends at :meth:`finish`."""

    kind = "push"
    has_depth = True

    def __init__(self, posed: bool, max_queue: int = 8):
        super().__init__("push://")
        self.has_pose = posed
        self._queue: queue.Queue = queue.Queue(max_queue)
        self.pushed = 0

    def push(self, frame: Frame) -> None:
        self._queue.put(SourceRecord(frame, self.pushed))
        self.pushed += 1

    def finish(self) -> None:
        self._queue.put(None)

    def _records(self):
        while True:
            record = self._queue.get()
            if record is None:
                return
            yield record


class _Counter:
    """A sink counting the packets that left the pipeline."""

    name = "counter"

    def __init__(self):
        self.count = 0

    def write(self, packet) -> None:
        self.count += 1


class PushPipeline:
    """``eg_pipeline_open`` … ``eg_pipeline_close``: a runtime pipeline fed by pushes, running
    in a background thread (the GIL is released while it waits)."""

    def __init__(self, pipeline: str, options_toml: str | None):
        from ..assembly import RunSpec, assemble_run

        options = parse_options(options_toml)
        self.track = options.get("track", False)
        self.source = PushSource(posed=not self.track)
        self.counter = _Counter()
        spec = RunSpec(source=self.source, pipeline=pipeline, fuse=options.get("fuse", True),
                       sinks=(self.counter,), profile=options.get("device_profile", "cpu"),
                       voxel=options.get("voxel"), max_depth=options.get("max_depth"),
                       track=self.track or None)
        self.run = assemble_run(spec)
        self.pipeline = self.run.pipeline(policy="block", max_queue=options.get("queue"))
        self.thread = threading.Thread(target=self.pipeline.run, kwargs=dict(
            handle_signals=False), name="edgegeo-capi-pipeline", daemon=True)
        self.thread.start()

    def push(self, rgb: np.ndarray, depth_mm: np.ndarray, K: np.ndarray,
             world_T_cam: np.ndarray | None, timestamp: float) -> None:
        """Queue one frame (copied: the pipeline runs after the call returns)."""
        from edgegeo.geometry import validate_K, validate_pose

        if world_T_cam is None and not self.track:
            raise ValueError("world_T_cam is NULL but this pipeline does not track: pass the "
                             "pose, or open it with options 'track = true'")
        if world_T_cam is not None and self.track:
            raise ValueError("this pipeline tracks the camera (track = true): pass "
                             "world_T_cam = NULL")
        pose = None if world_T_cam is None else validate_pose(world_T_cam)
        if not np.isfinite(timestamp):
            raise ValueError(f"timestamp must be finite, got {timestamp}")
        frame = Frame(rgb=np.ascontiguousarray(rgb), K=validate_K(K),
                      depth=depth_mm.astype(np.float32) / 1000.0, world_T_cam=pose,
                      timestamp=float(timestamp))
        self.source.push(frame)

    def flush(self, timeout_s: float = 120.0) -> None:
        """Wait until every pushed frame has left the pipeline."""
        deadline = time.monotonic() + timeout_s
        while self.counter.count + self.pipeline.stats.errors() + \
                self.pipeline.stats.dropped() < self.source.pushed:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ValueError("the pipeline stopped before the pushed frames went through")
            time.sleep(0.005)

    def save_mesh(self, path: str) -> None:
        if self.run.live_map is None:
            raise ValueError("this pipeline does not fuse (options: fuse = false)")
        self.flush()
        if self.run.live_map.save(path, None, require_surface=True) is None:
            raise ValueError("nothing fused yet: no surface to save")

    def close(self) -> None:
        self.source.finish()
        self.thread.join(60)
        self.run.close()
