"""The frames the export layer calibrates and checks on, one kind per model family, and where
they come from.

Kinds (``ExportSpec.frame_kind``):

- ``image`` — :class:`ImageFrame`, one RGB(-D) frame (``mono-depth``, ``jbu``);
- ``stereo`` — :class:`StereoFrame`, a rectified pair with the left view's disparity
  (``stereo``);
- ``posed`` — :class:`PosedFrames`, a posed reference frame and posed candidate source frames
  of the same walk-through (``mvs``; the model's spec picks its sources among them).

Sources, per kind:

- :func:`synthetic_frames`: rendered by the synthetic scene engine from the given scene seeds
  (``TRAIN_SEEDS`` for calibration, ``TEST_SEEDS`` for held-out checks): walk-through frames
  (``image``), rectified pairs (``stereo``, as the stereo recipe renders them) or walk-through
  windows (``posed``);
- :func:`real_frames`: the real Middlebury *Motorcycle* pair (evaluation-only) — its left image
  with depth, or the pair with disparity; no real posed sequence ships with edgegeo;
- :func:`folder_frames`: a folder given as ``--calib DIR``: images or walk-through shards
  (``image``), stereo shards (``stereo``), walk-through shards (``posed``);
- :func:`random_frame`: noise, for tests and tracing.

Images are ``(H, W, 3) uint8`` RGB, depth ``(H, W) float32`` metres (0 = none), disparity
``(H, W) float32`` pixels of the left view (0 = none), ``K`` ``(3, 3)`` pixels, poses
``world_T_cam`` ``(4, 4)`` metres (``conventions.md``).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FRAME_KINDS = ("image", "stereo", "posed")
FRAMES_PER_SCENE = 8             # image: walk-through frames per scene
PAIRS_PER_SCENE = 8              # stereo: rectified pairs per scene
REFERENCES_PER_SCENE = 4         # posed: reference frames per walk-through
WALK_FRAMES = 10                 # posed: frames of a walk-through (references + candidates)
WALK_FPS = 5.0                   # posed: 7 cm between frames at 0.35 m/s (as `edgegeo bench mvs`)
SHARD_WINDOW = 5                 # posed from shards: candidates within ± this many frames
WALK_SEED = 1_000_003            # walk-through seed = scene seed × this (`edgegeo data render`)
PAIR_SEED = 7_919                # stereo rig seed = scene seed × this + index (stereo recipe)


@dataclass(frozen=True)
class ImageFrame:
    """One RGB frame, ``depth`` in metres or None."""

    rgb: np.ndarray
    depth: np.ndarray | None = None


@dataclass(frozen=True)
class StereoFrame:
    """A rectified pair: ``left``/``right`` RGB, ``disparity`` of the left view in pixels
    (0 = no ground truth) or None."""

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray | None = None


@dataclass(frozen=True)
class PosedFrames:
    """A posed reference ``Frame`` (with depth for the metric) and candidate source
    ``Frame`` s (rgb, K, world_T_cam) of the same sequence."""

    reference: Any
    candidates: tuple[Any, ...]


def check_kind(kind: str) -> str:
    if kind not in FRAME_KINDS:
        raise ValueError(f"unknown frame kind {kind!r}; one of {', '.join(FRAME_KINDS)}")
    return kind


def synthetic_frames(kind: str, seeds: Sequence[int], count: int, size: tuple[int, int],
                     seed_offset: int = 0) -> list:
    """``count`` rendered frames of ``kind`` at ``size = (H, W)`` from scenes ``seeds`` in
    order (as many scenes as needed; see the module docstring).

    Raises:
        ValueError: unknown kind, or more frames than the scenes provide.
    """
    per_scene = {"image": FRAMES_PER_SCENE, "stereo": PAIRS_PER_SCENE,
                 "posed": REFERENCES_PER_SCENE}[check_kind(kind)]
    scenes = math.ceil(count / per_scene)
    if scenes > len(seeds):
        raise ValueError(f"asked for {count} frames, more than {len(seeds)} scenes provide")
    render = {"image": _walkthrough_frames, "stereo": _stereo_frames, "posed": _posed_frames}
    frames: list = []
    for seed in list(seeds)[:scenes]:
        take = min(per_scene, count - len(frames))
        frames += render[kind](int(seed), take, size, seed_offset)
    return frames


def _walkthrough_frames(seed: int, count: int, size, seed_offset: int) -> list[ImageFrame]:
    from edgegeo.data.synthetic import generate_scene, walkthrough

    walk = walkthrough(generate_scene(seed), count, size[1], size[0], seed=seed + seed_offset,
                       progress=False)
    return [ImageFrame(frame.rgb, frame.depth) for frame in walk]


def _stereo_frames(seed: int, count: int, size, seed_offset: int) -> list[StereoFrame]:
    from edgegeo.data.synthetic import generate_scene, stereo_pair

    scene = generate_scene(seed)
    pairs = [stereo_pair(scene, size[1], size[0], seed=seed * PAIR_SEED + index + seed_offset)
             for index in range(count)]
    return [StereoFrame(p.left.rgb, p.right.rgb, p.disparity) for p in pairs]


def _posed_frames(seed: int, count: int, size, seed_offset: int) -> list[PosedFrames]:
    from edgegeo.data.synthetic import generate_scene, walkthrough

    walk = walkthrough(generate_scene(seed), WALK_FRAMES, size[1], size[0],
                       seed=seed * WALK_SEED + seed_offset, fps=WALK_FPS, progress=False)
    references = np.linspace(0, WALK_FRAMES - 1, REFERENCES_PER_SCENE + 2)[1:-1].round()
    return [PosedFrames(walk[int(i)], tuple(f for j, f in enumerate(walk) if j != int(i)))
            for i in references[:count]]


def real_frames(kind: str) -> list[tuple[str, Any]]:
    """``(label, frame)`` of the real evaluation data of ``kind``.

    Raises:
        ValueError: ``posed`` (no real posed sequence ships with edgegeo).
    """
    from edgegeo.data.middlebury import load_motorcycle

    label = "real: Middlebury Motorcycle"
    if check_kind(kind) == "posed":
        raise ValueError("no real posed sequence ships with edgegeo: check posed models on "
                         "synthetic:N or random:N")
    sample = load_motorcycle()
    if kind == "image":
        return [(label, ImageFrame(sample.left, sample.depth()))]
    return [(label, StereoFrame(sample.left, sample.right, sample.disparity))]


def folder_frames(kind: str, path: Path) -> Iterator:
    """The frames of ``kind`` in a calibration folder (see the module docstring).

    Raises:
        FileNotFoundError: ``stereo``/``posed`` with no shard of that rig in the folder.
        ValueError: an image folder without images.
    """
    from edgegeo.data.images import ImageFolder
    from edgegeo.data.synthetic import read_shard, read_stereo_shard

    check_kind(kind)
    marker = "stereo.npz" if kind == "stereo" else "meta.npz"
    shards = [path] if (path / marker).is_file() else sorted(
        p for p in path.iterdir() if (p / marker).is_file())
    if kind == "image" and not shards:
        yield from (ImageFrame(image) for image in ImageFolder(path))
        return
    if not shards:
        rig = "stereo" if kind == "stereo" else "walkthrough"
        raise FileNotFoundError(f"{path}: no {rig} shards ({marker}) for {kind} frames; render "
                                f"them with `edgegeo data render --rig {rig}`")
    for shard in shards:
        if kind == "stereo":
            yield from (StereoFrame(p.left.rgb, p.right.rgb, p.disparity)
                        for p in read_stereo_shard(shard))
        elif kind == "image":
            yield from (ImageFrame(frame.rgb, frame.depth) for frame in read_shard(shard))
        else:
            walk = read_shard(shard)
            for index in range(0, len(walk), SHARD_WINDOW):
                near = range(max(0, index - SHARD_WINDOW), min(len(walk), index + SHARD_WINDOW + 1))
                yield PosedFrames(walk[index], tuple(walk[j] for j in near if j != index))


def random_frame(kind: str, size: tuple[int, int], seed: int = 0):
    """A noise frame of ``kind`` at ``size``: RGB uniform in [0, 255]; depth 0.5–5 m with 10 %
    holes; the right view the left shifted 4 px (disparity 4); posed: 8 candidates within
    ±0.2 m and ±5° of the reference, intrinsics with a 64° field of view."""
    from edgegeo.data.frame import Frame
    from edgegeo.geometry import make_K
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    height, width = size

    def rgb() -> np.ndarray:
        return (rng.random((height, width, 3)) * 255).astype(np.uint8)

    image = rgb()
    depth = rng.uniform(0.5, 5.0, size).astype(np.float32)
    depth[rng.random(size) < 0.1] = 0.0
    if check_kind(kind) == "image":
        return ImageFrame(image, depth)
    if kind == "stereo":
        return StereoFrame(image, np.roll(image, -4, axis=1), np.full(size, 4.0, np.float32))
    K = make_K(0.8 * width, 0.8 * width, (width - 1) / 2, (height - 1) / 2)
    candidates = []
    for _ in range(8):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_rotvec(rng.uniform(-0.09, 0.09, 3)).as_matrix()
        pose[:3, 3] = rng.uniform(-0.2, 0.2, 3)
        candidates.append(Frame(rgb=rgb(), K=K, world_T_cam=pose))
    return PosedFrames(Frame(rgb=image, K=K, depth=depth, world_T_cam=np.eye(4)),
                       tuple(candidates))
