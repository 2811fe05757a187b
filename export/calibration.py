"""Calibration and evaluation frames for int8 (``--calib DIR|synthetic:N``).

- ``synthetic:N``: N frames rendered by the synthetic scene engine from *training* scenes
  (``edgegeo.data.splits.TRAIN_SEEDS``; 8 walk-through frames per scene), with depth.
- ``DIR``: a folder of images (``edgegeo.data.images.ImageFolder``; real photos, RGB only),
  or a folder of synthetic shards (``edgegeo.data.synthetic.write_shard`` output: a shard, or
  a folder of ``scene_*`` shards), which carry depth. Models that need depth for their inputs
  (``jbu``) need shards or ``synthetic:N``.

Held-out frames for the task metric come from ``TEST_SEEDS`` scenes (never calibration) and
the real Middlebury *Motorcycle* image (evaluation-only).
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAMES_PER_SCENE = 8


@dataclass(frozen=True)
class CalibrationSource:
    """A parsed ``--calib`` value: ``kind`` is ``"synthetic"`` (``count`` frames) or
    ``"folder"`` (``path``)."""

    kind: str
    count: int = 0
    path: Path | None = None

    def describe(self) -> str:
        return f"synthetic:{self.count}" if self.kind == "synthetic" else str(self.path)


def parse_calib(value: str | os.PathLike) -> CalibrationSource:
    """Parse ``DIR`` or ``synthetic:N``.

    Raises:
        ValueError: ``synthetic:`` without a positive count.
        FileNotFoundError: the folder does not exist.
    """
    text = str(value)
    if text.startswith("synthetic:"):
        try:
            count = int(text.split(":", 1)[1])
        except ValueError:
            count = 0
        if count <= 0:
            raise ValueError(f"--calib {text!r}: use synthetic:N with N a positive frame count")
        return CalibrationSource("synthetic", count=count)
    path = Path(text).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"calibration folder not found: {path} (give a folder of "
                                f"images or synthetic shards, or synthetic:N)")
    return CalibrationSource("folder", path=path)


def render_frames(seeds, count: int, size: tuple[int, int], seed_offset: int = 0
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``count`` rendered ``(rgb, depth)`` frames at ``size`` from scenes ``seeds`` in order,
    ``FRAMES_PER_SCENE`` walk-through frames per scene."""
    from edgegeo.data.synthetic import generate_scene, walkthrough

    scenes = math.ceil(count / FRAMES_PER_SCENE)
    if scenes > len(seeds):
        raise ValueError(f"asked for {count} frames, more than {len(seeds)} scenes provide")
    produced = 0
    for seed in list(seeds)[:scenes]:
        take = min(FRAMES_PER_SCENE, count - produced)
        scene = generate_scene(int(seed))
        for frame in walkthrough(scene, take, size[1], size[0], seed=int(seed) + seed_offset,
                                 progress=False):
            yield frame.rgb, frame.depth
        produced += take


def folder_frames(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Frames of a shard folder (with depth), a folder of shards, or an image folder."""
    from edgegeo.data.images import ImageFolder
    from edgegeo.data.synthetic import read_shard

    shards = [path] if _is_shard(path) else sorted(p for p in path.iterdir() if _is_shard(p))
    if shards:
        for shard in shards:
            for frame in read_shard(shard):
                yield frame.rgb, frame.depth
        return
    for image in ImageFolder(path):
        yield image, None


def _is_shard(path: Path) -> bool:
    return (path / "meta.npz").is_file()


def calibration_frames(source: CalibrationSource, size: tuple[int, int], needs_depth: bool,
                       limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The calibration frames of ``source`` (at most ``limit``; folders: all by default).

    Raises:
        ValueError: no frames, or frames without depth for a model that needs depth.
    """
    from edgegeo.data.splits import TRAIN_SEEDS

    if source.kind == "synthetic":
        frames = list(render_frames(TRAIN_SEEDS, source.count, size))
    else:
        frames = []
        for frame in folder_frames(source.path):
            frames.append(frame)
            if limit is not None and len(frames) >= limit:
                break
    if not frames:
        raise ValueError(f"calibration source {source.describe()} has no frames")
    if needs_depth and any(depth is None for _, depth in frames):
        raise ValueError(f"calibration source {source.describe()} has images without depth; "
                         f"this model's inputs need depth: use synthetic shards or synthetic:N")
    return frames


def heldout_frames(count: int, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` rendered frames from held-out scenes (``TEST_SEEDS``)."""
    from edgegeo.data.splits import TEST_SEEDS

    return list(render_frames(TEST_SEEDS, count, size, seed_offset=17))


def motorcycle_frame() -> tuple[np.ndarray, np.ndarray]:
    """The real Middlebury *Motorcycle* left image and its ground-truth depth (m, 0 = none)."""
    from edgegeo.data.middlebury import load_motorcycle

    sample = load_motorcycle()
    return sample.left, sample.depth()


class FrameReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over model inputs.

    Args:
        spec: the model's export spec (turns frames into inputs).
        frames: ``(rgb, depth)`` frames.
        size: ``(H, W)`` output size the inputs are made for.
    """

    def __init__(self, spec, frames, size: tuple[int, int]):
        from onnxruntime.quantization import CalibrationDataReader

        class _Reader(CalibrationDataReader):
            def __init__(inner):
                inner.feeds = [spec.frame_inputs(rgb, depth, size)[0] for rgb, depth in frames]
                inner.index = 0

            def get_next(inner):
                if inner.index >= len(inner.feeds):
                    return None
                inner.index += 1
                return inner.feeds[inner.index - 1]

            def rewind(inner):
                inner.index = 0

        self.reader = _Reader()

    def __len__(self) -> int:
        return len(self.reader.feeds)
