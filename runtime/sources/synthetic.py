"""``synthetic://walkthrough``: a hand-held walk-through of a procedural room from edgegeo's scene
engine, with ground truth (depth, pose, normals, instances) on every frame.

Rendering happens when iteration starts (``walkthrough`` renders the whole path at once: about
40 ms per 256×192 frame on one core), then frames stream as fast as consumed or, with
``realtime=True``, at the walk-through's ``fps``.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator

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
