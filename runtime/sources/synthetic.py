"""Procedural rooms from edgegeo's scene engine, with ground truth on every frame:

* ``synthetic://walkthrough`` (:class:`SyntheticSource`): a hand-held walk-through (depth,
  pose, normals, instances). Rendering happens when iteration starts (``walkthrough`` renders
  the whole path at once: about 40 ms per 256×192 frame on one core).
* ``synthetic://stereo`` (:class:`SyntheticStereoSource`): rectified stereo pairs (left frame
  with depth and pose, right image, baseline), rendered one by one as they are consumed (about
  0.1 s per 256×192 pair).

Frames stream as fast as consumed or, with ``realtime=True``, at the source's ``fps``.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

import numpy as np

from .base import Pacer, Source, SourceRecord


class SyntheticSource(Source):
    """Frames of ``walkthrough(generate_scene(seed), frames, width, height, seed)``.

    Args:
        seed: scene and trajectory seed (≥ 0).
        frames: walk-through length (≥ 1).
        width, height: image size, pixels.
        fps: frame rate of the walk (timestamps ``i / fps``; ``realtime`` pacing).
        hfov_deg: horizontal field of view; None = drawn from the seed (60–80°).
        realtime: pace frames at ``fps``.

    Attributes:
        scene: the generated :class:`~edgegeo.data.synthetic.Scene` (ground-truth mesh in
            ``scene.mesh``), available after construction.
        frames: the rendered frames (after iteration started).
    """

    kind = "synthetic"
    has_depth = True
    has_pose = True

    def __init__(self, seed: int = 0, frames: int = 60, width: int = 256, height: int = 192,
                 fps: float = 10.0, hfov_deg: float | None = None, realtime: bool = False,
                 uri: str | None = None):
        from edgegeo.checks import positive_int, positive_scalar
        from edgegeo.data.synthetic import generate_scene

        super().__init__(uri or f"synthetic://walkthrough?seed={seed}&frames={frames}"
                                f"&size={width}x{height}")
        self.seed = int(seed)
        self.n_frames = positive_int(frames, "frames")
        self.width, self.height = positive_int(width, "width"), positive_int(height, "height")
        self.fps = positive_scalar(fps, "fps")
        self.hfov_deg = hfov_deg
        self.scene = generate_scene(self.seed)
        self.frames = None
        self._pacer = Pacer(realtime, self)

    def __len__(self) -> int:
        return self.n_frames

    def render(self) -> list:
        """Render (once) and return the walk-through's frames."""
        from edgegeo.data.synthetic import walkthrough

        if self.frames is None:
            self.frames = walkthrough(self.scene, self.n_frames, self.width, self.height,
                                      seed=self.seed, hfov_deg=self.hfov_deg, fps=self.fps,
                                      progress=False)
        return self.frames

    def replay(self, frames=None, realtime: bool = False) -> SyntheticSource:
        """A fresh source over the same rendered frames (a source iterates once), or over
        ``frames`` (e.g. a slice of them); no re-rendering."""
        clone = copy.copy(self)
        Source.__init__(clone, self.uri)
        clone.frames = list(self.render() if frames is None else frames)
        clone.n_frames = len(clone.frames)
        clone._pacer = Pacer(realtime, clone)
        return clone

    def _records(self) -> Iterator[SourceRecord]:
        for index, frame in enumerate(self.render()):
            if not self._pacer.pace(frame.timestamp):
                return
            yield SourceRecord(frame, index, extra={"ground_truth": True})


class SyntheticStereoSource(Source):
    """Rectified pairs of ``stereo_pair(generate_scene(seed), width, height, baseline_m)``.

    A fixed rig (one baseline, one field of view) placed at a fresh free viewpoint of the room
    for every pair — a set of views, not a trajectory. Pair ``i`` is rendered with the
    viewpoint seed drawn from ``(seed, i)``, so a stream is reproducible. Each record holds the
    left :class:`~edgegeo.data.frame.Frame` (``rgb``, ``K``, ground-truth ``depth`` in metres,
    ``world_T_cam``, timestamp ``i / fps``), the right image in ``right`` (same ``K``, camera
    ``baseline_m`` along the left camera's +x axis) and ``baseline_m``.

    Args:
        seed: scene seed (≥ 0).
        frames: number of pairs (≥ 1).
        width, height: image size, pixels.
        baseline_m: stereo baseline, metres (> 0).
        fps: timestamps and ``realtime`` pacing.
        hfov_deg: horizontal field of view, degrees.
        realtime: pace pairs at ``fps``.

    Attributes:
        scene: the generated :class:`~edgegeo.data.synthetic.Scene`.
    """

    kind = "synthetic-stereo"
    has_depth = True
    has_pose = True
    has_stereo = True

    def __init__(self, seed: int = 0, frames: int = 30, width: int = 256, height: int = 192,
                 baseline_m: float = 0.1, fps: float = 10.0, hfov_deg: float = 70.0,
                 realtime: bool = False, uri: str | None = None):
        from edgegeo.checks import positive_int, positive_scalar
        from edgegeo.data.synthetic import generate_scene

        super().__init__(uri or f"synthetic://stereo?seed={seed}&frames={frames}"
                                f"&size={width}x{height}&baseline={baseline_m:g}")
        self.seed = int(seed)
        self.n_frames = positive_int(frames, "frames")
        self.width, self.height = positive_int(width, "width"), positive_int(height, "height")
        self.baseline_m = positive_scalar(baseline_m, "baseline_m")
        self.fps = positive_scalar(fps, "fps")
        self.hfov_deg = positive_scalar(hfov_deg, "hfov_deg")
        self.scene = generate_scene(self.seed)
        self._pacer = Pacer(realtime, self)

    def __len__(self) -> int:
        return self.n_frames

    def pair(self, index: int):
        """Render pair ``index`` (a :class:`~edgegeo.data.synthetic.StereoPair`)."""
        from edgegeo.data.synthetic import stereo_pair

        view_seed = int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])
        return stereo_pair(self.scene, self.width, self.height, baseline_m=self.baseline_m,
                           seed=view_seed, hfov_deg=self.hfov_deg)

    def _records(self) -> Iterator[SourceRecord]:
        for index in range(self.n_frames):
            pair = self.pair(index)
            left = dataclasses.replace(pair.left, timestamp=index / self.fps)
            if not self._pacer.pace(left.timestamp):
                return
            yield SourceRecord(left, index, right=pair.right.rgb, baseline_m=pair.baseline_m,
                               extra={"ground_truth": True})
