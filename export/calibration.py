"""Calibration and evaluation frames for int8 (``--calib DIR|synthetic:N``), of the frame
kind of the model's spec (``frames``: single frames, stereo pairs, posed walk-through windows).

- ``synthetic:N``: N frames rendered by the synthetic scene engine from *training* scenes
  (``edgegeo.data.splits.TRAIN_SEEDS``), with ground truth.
- ``DIR``: a folder of images (``edgegeo.data.images.ImageFolder``; real photos, RGB only),
  or a folder of synthetic shards (``edgegeo data render`` output: a shard, or a folder of
  ``scene_*`` shards; stereo shards for stereo models), which carry depth and poses. Models
  that need depth for their inputs (``jbu``) need shards or ``synthetic:N``.

Held-out frames for the task metric come from ``TEST_SEEDS`` scenes (never calibration) and
the real Middlebury *Motorcycle* pair (evaluation-only; ``frames.real_frames``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .frames import folder_frames, synthetic_frames


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


def calibration_frames(source: CalibrationSource, kind: str, size: tuple[int, int],
                       needs_depth: bool, limit: int | None = None) -> list:
    """The calibration frames of ``source`` (at most ``limit``; folders: all by default) of
    frame ``kind`` (see ``frames``).

    Raises:
        ValueError: no frames, or frames without depth for a model that needs depth.
    """
    from edgegeo.data.splits import TRAIN_SEEDS

    if source.kind == "synthetic":
        frames = synthetic_frames(kind, TRAIN_SEEDS, source.count, size)
    else:
        frames = []
        for frame in folder_frames(kind, source.path):
            frames.append(frame)
            if limit is not None and len(frames) >= limit:
                break
    if not frames:
        raise ValueError(f"calibration source {source.describe()} has no frames")
    if needs_depth and any(getattr(frame, "depth", None) is None for frame in frames):
        raise ValueError(f"calibration source {source.describe()} has images without depth; "
                         f"this model's inputs need depth: use synthetic shards or synthetic:N")
    return frames


def heldout_frames(kind: str, count: int, size: tuple[int, int]) -> list:
    """``count`` rendered frames of ``kind`` from held-out scenes (``TEST_SEEDS``)."""
    from edgegeo.data.splits import TEST_SEEDS

    return synthetic_frames(kind, TEST_SEEDS, count, size, seed_offset=17)


class FrameReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over model inputs.

    Args:
        spec: the model's export spec (turns frames into inputs).
        frames: frames of the spec's kind.
        size: ``(H, W)`` output size the inputs are made for.
        attributes: the network's export attributes (``spec.attributes``).
    """

    def __init__(self, spec, frames, size: tuple[int, int], attributes: dict[str, Any]):
        from onnxruntime.quantization import CalibrationDataReader

        class _Reader(CalibrationDataReader):
            def __init__(inner):
                inner.feeds = [spec.frame_inputs(frame, size, attributes)[0]
                               for frame in frames]
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
