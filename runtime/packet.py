"""What travels through the runtime's pipeline: :class:`Packet` (one frame and what the stages
made of it) and :class:`BadFrame` (a stage's rejection of a frame).

Its own module so that the engine (:mod:`edgegeo.runtime.pipeline`), the stages
(:mod:`edgegeo.runtime.stages`) and the sinks all import it, and none imports another back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgegeo.data.frame import Frame
from edgegeo.geometry import resize_K

from .sources.base import SourceRecord


class BadFrame(ValueError):
    """A frame a stage cannot use (wrong size, NaN depth, no pose, ...): skipped, counted."""


@dataclass
class Packet:
    """One frame travelling through the pipeline.

    Attributes:
        seq: 0-based order in which the source delivered it.
        record: what the source delivered (``record.frame`` is the :class:`Frame`).
        t_source: ``time.perf_counter()`` when the source delivered it.
        depth: ``(h,w) float32`` metres, the depth this pipeline produced (the source's own for
            ``gt``, predicted and scaled for ``mono``, ...); may be lower resolution than the
            frame until an upsampling stage runs; None before a depth stage ran, or when it
            skipped the frame.
        disparity: ``(H,W) float32`` disparity the depth stage produced, if any: relative
            (mono-depth, larger = nearer) or pixels of the left view (stereo).
        earlier_depths: ``[(frame index, Frame, (H,W) float32 depth in metres)]`` depth the
            depth stage produced for earlier frames with this packet (mvs: keyframes that had
            too few sources when they passed); the fuse stage integrates them; the standard
            sinks publish only ``depth``.
        confidence: ``(H,W) float32`` the stereo model's confidence ``exp(−c)`` (1 / expected
            disparity error in pixels), if the stage asked for it.
        world_T_cam: ``(4,4) float64`` camera-to-world pose the tracking stage estimated
            (metres; the first tracked frame is the world), None when tracking is off or lost
            the frame. :attr:`pose` is the one fusion and the sinks use.
        timings: seconds each stage spent on it; waits: seconds it queued before each stage.
        info: per-packet notes stages leave for later stages and sinks.
        skipped: ``{stage name: reason}`` for the stages that passed it on without doing their
            work (see :meth:`skip`).
    """

    seq: int
    record: SourceRecord
    t_source: float
    depth: np.ndarray | None = None
    disparity: np.ndarray | None = None
    confidence: np.ndarray | None = None
    earlier_depths: list = field(default_factory=list)
    world_T_cam: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    waits: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    _t_put: float = 0.0

    @property
    def frame(self) -> Frame:
        return self.record.frame

    @property
    def index(self) -> int:
        """The frame's index at the source."""
        return self.record.index

    @property
    def pose(self) -> np.ndarray | None:
        """The frame's camera-to-world pose: the tracked one when a tracking stage ran, else
        the source's (None when neither exists)."""
        return self.world_T_cam if self.world_T_cam is not None else self.frame.world_T_cam

    def skip(self, stage: str, reason: str) -> Packet:
        """Mark that ``stage`` passes this packet on without doing its work, because of
        ``reason`` (e.g. ``"not a keyframe"``); the stats count it per reason. Returns self."""
        self.skipped[stage] = reason
        return self

    def depth_K(self) -> np.ndarray:
        """Intrinsics of :attr:`depth` (the frame's K, rescaled if depth is smaller)."""
        hw = self.frame.hw
        if self.depth is None or self.depth.shape == hw:
            return self.frame.K
        return resize_K(self.frame.K, hw, self.depth.shape)

    def pass_without_depth(self, stage: str, verb: str) -> Packet:
        """For a stage that needs depth and finds none: a packet an earlier stage skipped (no
        depth on purpose) goes on, skipped by ``stage`` too; a packet that lost its depth
        otherwise is a :class:`BadFrame` ("no depth to ``verb``")."""
        if not self.skipped:
            raise BadFrame(f"no depth to {verb}")
        return self.skip(stage, "no depth")
