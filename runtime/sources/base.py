"""What every frame source of the runtime shares: the record it yields, its counters and events,
stopping, and real-time pacing.

A source is an iterable of :class:`SourceRecord`. It survives bad input: a frame it cannot read
(a corrupt file, a partial RealSense frameset, a camera timeout) is *reported* — counted in
:attr:`Source.counters` and passed to :attr:`Source.on_event` — and the stream goes on. Only a
source that cannot go on at all (the camera is gone and reconnecting failed) raises
:class:`SourceError` from its iterator.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edgegeo.data.frame import Frame

log = logging.getLogger("edgegeo.runtime.sources")

EVENT_KINDS = ("dropped", "corrupt", "timeout", "reconnect", "warning")


class SourceError(RuntimeError):
    """The source cannot deliver any more frames (device lost, file unreadable as a whole)."""


@dataclass
class SourceRecord:
    """One frame as a source delivers it: the :class:`Frame` plus what some sources add.

    Attributes:
        frame: the frame (``rgb``, ``K``, and ``depth`` / ``world_T_cam`` / ``timestamp``
            where the source has them), in the units of ``conventions.md``. RealSense depth is
            aligned to the colour image and scaled to metres.
        index: 0-based number of the frame in the stream as the source counts it (camera frame
            numbers for RealSense, so a gap means the camera lost frames).
        right: ``(H, W, 3) uint8`` RGB right image of a rectified pair whose left image is
            ``frame.rgb``: same size and ``K``, right camera ``baseline_m`` along the left
            camera's +x axis; None where the source has no such pair.
        ir_left, ir_right: ``(h, w) uint8`` infrared pair of a stereo depth camera (RealSense
            IR 1 / IR 2, not aligned to colour), None where absent.
        ir_K: ``(3,3) float64`` intrinsics of the infrared images (both share them).
        baseline_m: stereo baseline, metres (right camera at +x): of ``frame.rgb`` / ``right``
            where ``right`` is set, and of the infrared pair (the same cameras when the frame
            is the left infrared image).
        depth_scale: metres per raw depth unit of the device (RealSense), None where absent.
        extra: anything else a source wants to pass on (e.g. ``{"path": ...}``).
    """

    frame: Frame
    index: int
    right: np.ndarray | None = None
    ir_left: np.ndarray | None = None
    ir_right: np.ndarray | None = None
    ir_K: np.ndarray | None = None
    baseline_m: float | None = None
    depth_scale: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class SourceCounters:
    """What a source delivered and what it lost.

    Attributes:
        frames: records delivered.
        dropped: frames lost before delivery (camera frame-number gaps, incomplete framesets).
        corrupt: frames that could not be read or decoded and were skipped.
        timeouts: waits for the camera that ran out.
        reconnects: successful reconnections to a live camera.
    """

    frames: int = 0
    dropped: int = 0
    corrupt: int = 0
    timeouts: int = 0
    reconnects: int = 0

    def as_dict(self) -> dict:
        return dict(frames=self.frames, dropped=self.dropped, corrupt=self.corrupt,
                    timeouts=self.timeouts, reconnects=self.reconnects)


class Source:
    """Base class of the runtime's frame sources.

    Subclasses implement :meth:`_records` (a generator of :class:`SourceRecord`) and, if they
    hold resources, :meth:`close`. Iterate a source once; use it as a context manager (or call
    :meth:`close`) to release the device or file.

    Attributes:
        uri: where the frames come from (as given to ``open_source``).
        live: True for cameras (frames keep coming whether or not they are consumed, so a slow
            consumer must drop), False for files and the synthetic engine (played back as fast
            as they are consumed unless ``realtime``).
        has_depth / has_pose: whether frames carry depth / ``world_T_cam`` (None = unknown
            until frames arrive).
        has_stereo: whether records carry a rectified right image (:attr:`SourceRecord.right`)
            and its baseline; False unless the source says so.
        counters: :class:`SourceCounters`.
        on_event: ``callback(kind, index, message)`` called for every reported problem (kind
            in ``EVENT_KINDS``); the pipeline sets it to feed its stats.
    """

    kind = "source"
    live = False
    has_depth: bool | None = None
    has_pose: bool | None = None
    has_stereo: bool = False

    def __init__(self, uri: str):
        self.uri = uri
        self.counters = SourceCounters()
        self.on_event: Callable[[str, int | None, str], None] | None = None
        self._stop = threading.Event()
        self._iterated = False

    # -------------------------------------------------------------- iteration
    def __iter__(self) -> Iterator[SourceRecord]:
        if self._iterated:
            raise RuntimeError(f"{self.uri}: a source can be iterated once; open it again")
        self._iterated = True
        for record in self._records():
            if self._stop.is_set():
                return
            self.counters.frames += 1
            yield record
            if self._stop.is_set():
                return

    def _records(self) -> Iterator[SourceRecord]:
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the source to end its stream (thread-safe); iteration returns soon after."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Release the device / file. Safe to call twice."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -------------------------------------------------------------- reporting
    def report(self, kind: str, index: int | None, message: str, count: int = 1) -> None:
        """Count and pass on a problem the source survived (see ``EVENT_KINDS``)."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        attribute = {"dropped": "dropped", "corrupt": "corrupt", "timeout": "timeouts",
                     "reconnect": "reconnects"}.get(kind)
        if attribute:
            setattr(self.counters, attribute, getattr(self.counters, attribute) + count)
        log.warning("%s: %s%s", self.uri, "" if index is None else f"frame {index}: ", message)
        if self.on_event is not None:
            self.on_event(kind, index, message)

    def describe(self) -> dict:
        """A JSON-able summary: uri, kind, live, has_depth, has_pose, has_stereo, state
        (``streaming``; a live camera also ``waiting`` for frames or ``reconnecting``),
        counters."""
        return dict(uri=self.uri, kind=self.kind, live=self.live, has_depth=self.has_depth,
                    has_pose=self.has_pose, has_stereo=self.has_stereo,
                    state=getattr(self, "state", "streaming"), counters=self.counters.as_dict())

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the source was stopped meanwhile."""
        return not self._stop.wait(max(seconds, 0.0))


class Pacer:
    """Real-time playback: waits so that frames come out at the pace of their timestamps.

    ``pace(t)`` with ``t`` the frame's timestamp (seconds, source clock) sleeps until
    ``start + (t - t0)`` in wall time. Disabled (no waiting) when ``realtime`` is False.
    """

    def __init__(self, realtime: bool, source: Source):
        self.realtime = realtime
        self._source = source
        self._origin: tuple[float, float] | None = None

    def pace(self, timestamp: float | None) -> bool:
        """Wait for ``timestamp``'s turn; False if the source was stopped while waiting."""
        if not self.realtime or timestamp is None:
            return not self._source.stopping
        now = time.perf_counter()
        if self._origin is None:
            self._origin = (now, timestamp)
            return not self._source.stopping
        wall0, t0 = self._origin
        return self._source._wait(wall0 + (timestamp - t0) - now)


def intrinsics_for(width: int, height: int, K=None, hfov_deg: float | None = None) -> np.ndarray:
    """Intrinsics for sources that do not know their camera (videos, image folders, webcams).

    Args:
        K: explicit ``(fx, fy, cx, cy)`` or a 3×3 matrix, used as given.
        hfov_deg: else a pinhole with this horizontal field of view (default 60°, a typical
            webcam), centred.
    Returns:
        ``(3,3) float64``.
    """
    from edgegeo.geometry import K_from_fov, make_K, validate_K

    if K is not None:
        values = np.asarray(K, dtype=np.float64)
        if values.shape == (4,):
            return make_K(*values)
        return validate_K(values)
    return K_from_fov(width, height, 60.0 if hfov_deg is None else hfov_deg)
