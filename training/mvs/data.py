"""Posed synthetic walk-throughs and the multi-view training tuples of the ``mvs`` recipe.

* **Sequences** — hand-held walk-throughs of procedural rooms (``edgegeo.data.synthetic``):
  RGB, GT depth, K and ``world_T_cam`` per frame. Either rendered in memory from training
  seeds (:func:`generate_sequences`, the default) or read from ``scene_*`` shards on disk
  (:func:`load_shard_sequences`, e.g. ``edgegeo data render --rig walkthrough --frames 40``),
  resized to the training size (K rescaled with :func:`edgegeo.geometry.resize_K`).
* **Tuples** (:func:`choose_sources`) — a random reference frame and ``S`` sources drawn at
  random among the frames of its sequence whose DeepVideoMVS pose distance to it lies in
  ``pose_range`` (both directions in time); too few such frames → the nearest-to-range others
  fill in. Sources are shuffled: the model orders them by pose distance itself.
* **Stream sources** — optionally (``stream_sources_p``) a tuple's sources are instead those
  the keyframe stream would pick at test time (:func:`stream_sources`): earlier keyframes only,
  about 15 cm away, rather than frames on both sides of the reference at 0.1–0.6.
* **Reference crops** — optionally the reference is a random ``crop_size`` window of its frame
  (intrinsics shifted with :func:`edgegeo.geometry.crop_K`) while the sources stay whole: the
  pixel scale, and so the matching geometry, is that of full frames at inference, but the cost
  volume and U-Net — most of the training cost — run on the crop.
* **Depth hints** — optionally (``hints=`` of :func:`load_shard_sequences`) each frame has
  the depth of the map fused from an earlier model's keyframes before it
  (:mod:`edgegeo.training.mvs.hints`); a batch then carries the reference's ``hint_depth``
  (zeroed with probability ``hint_drop_p``, as at a stream's start), and its stream sources
  are the earlier frames (the hint was fused in that order).
* **Source dropout** — with probability ``drop_sources_p`` a tuple keeps only
  ``min_sources … S − 1`` real sources, the rest are padding (``source_valid`` False), so a
  stream can start predicting before its buffer holds ``S`` keyframes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgegeo.data.splits import TRAIN_SEEDS, check_seeds
from edgegeo.geometry.intrinsics import crop_K, resize_K
from edgegeo.geometry.poses import pose_distance_parts, relative_pose
from edgegeo.models.mvs.keyframes import KeyframeBuffer

RIG_SEED_FACTOR = 1_000_003   # `edgegeo data render`: walk-through seed = scene seed × this


@dataclass
class Sequence:
    """One walk-through: ``rgb (F, H, W, 3) uint8``, ``depth (F, H, W) float32`` metres (0 =
    none), ``K (F, 3, 3)`` and ``world_T_cam (F, 4, 4)`` float64, ``distance (F, F)``, the
    DeepVideoMVS pose distance between every two frames, and optionally ``hint (F, H, W)``
    float16 metres (0 = none; see the module docstring)."""

    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    world_T_cam: np.ndarray
    distance: np.ndarray
    name: str
    hint: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rgb)


@dataclass
class SequenceSet:
    """Sequences of one size and where they came from."""

    sequences: list[Sequence]
    source: str

    @property
    def num_frames(self) -> int:
        return sum(len(s) for s in self.sequences)


def pose_distance_matrix(world_T_cams: np.ndarray) -> np.ndarray:
    """``(F, F)`` DeepVideoMVS pose distances ``sqrt(t² + 2/3 (3 − min(3, tr R)))``."""
    count = len(world_T_cams)
    distance = np.zeros((count, count))
    for i in range(count):
        for j in range(i + 1, count):
            t_m, rot_term = pose_distance_parts(relative_pose(world_T_cams[i], world_T_cams[j]))
            distance[i, j] = distance[j, i] = np.sqrt(t_m ** 2 + rot_term)
    return distance


def make_sequence(frames, size: tuple[int, int], name: str) -> Sequence:
    """A :class:`Sequence` from Frames, resized to ``size = (H, W)`` if needed (area RGB,
    nearest depth, K rescaled)."""
    import cv2

    height, width = size
    rgb, depth, Ks = [], [], []
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        if (h, w) != (height, width):
            rgb.append(cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA))
            depth.append(cv2.resize(frame.depth.astype(np.float32), (width, height),
                                    interpolation=cv2.INTER_NEAREST_EXACT))
            Ks.append(resize_K(frame.K, (h, w), (height, width)))
        else:
            rgb.append(frame.rgb)
            depth.append(frame.depth.astype(np.float32))
            Ks.append(np.asarray(frame.K, dtype=np.float64))
    poses = np.stack([np.asarray(f.world_T_cam, dtype=np.float64) for f in frames])
    return Sequence(np.stack(rgb), np.stack(depth), np.stack(Ks), poses,
                    pose_distance_matrix(poses), name)


def generate_sequences(seeds, frames_per_scene: int, size: tuple[int, int], fps: float = 5.0,
                       split: range = TRAIN_SEEDS, purpose: str = "mvs training data"
                       ) -> SequenceSet:
    """Render one walk-through per scene seed (all inside ``split``) at ``size = (H, W)``.

    The walk-through seed is that of ``edgegeo data render`` (scene seed × 1 000 003); ``fps``
    sets the spacing (speed 0.35 m/s: 7 cm between frames at 5 fps).
    """
    from edgegeo.data.synthetic import generate_scene, walkthrough

    seeds = list(seeds)
    check_seeds(seeds, split, purpose)
    height, width = size
    sequences = []
    for seed in seeds:
        frames = walkthrough(generate_scene(seed), frames_per_scene, width, height,
                             seed=seed * RIG_SEED_FACTOR, fps=fps, progress=False)
        sequences.append(make_sequence(frames, size, f"scene {seed}"))
    return SequenceSet(sequences, f"{len(seeds)} walk-throughs rendered in memory (scene seeds "
                                  f"{seeds[0]}–{seeds[-1]}, {frames_per_scene} frames at {fps:g} "
                                  f"fps, {width}x{height})")


def load_shard_sequences(root: str | Path, size: tuple[int, int],
                         max_scenes: int | None = None, hints: str | Path | None = None
                         ) -> SequenceSet:
    """The ``scene_*`` walk-through shards under ``root`` (sorted, the first ``max_scenes``),
    resized to ``size``; shards whose scene seed is not a training seed are refused. ``root``
    may also be a packed ``.npz`` (``edgegeo data pack``; JPEG RGB).

    Args:
        hints: optional folder of ``<shard name>.npy`` depth hints at ``size``
            (:mod:`edgegeo.training.mvs.hints`); shards without one are left out.
    Raises:
        FileNotFoundError: no shard under ``root`` (says how to render them), or no hint file
            for any of them.
        ValueError: a hint file whose shape is not the walk-through's.
    """
    from edgegeo.data.synthetic import is_packed, read_packed, read_shard, scene_shards

    if is_packed(root):          # one .npz from `edgegeo data pack --rig walkthrough`
        shards = read_packed(root, "walkthrough", TRAIN_SEEDS, "mvs training", max_scenes or 0)
        sequences = [make_sequence(frames, size, f"scene_{seed:06d}") for seed, frames in shards.items()]
    else:
        shards = scene_shards(root, TRAIN_SEEDS, "mvs training", max_scenes or 0)
        sequences = [make_sequence(read_shard(shard), size, shard.name) for shard in shards]
    described = f"{root}, resized to {size[1]}x{size[0]}"
    if hints is not None:
        sequences = _with_hints(sequences, Path(hints))
        described += f", with the depth hints in {hints}"
    frames = sum(len(s) for s in sequences)
    return SequenceSet(sequences, f"{len(sequences)} rendered walk-throughs ({frames} frames) "
                                  f"from {described}")


def _with_hints(sequences: list[Sequence], folder: Path) -> list[Sequence]:
    """The sequences that have a ``<name>.npy`` hint file in ``folder``, with it attached."""
    kept = []
    for sequence in sequences:
        path = folder / f"{sequence.name}.npy"
        if not path.is_file():
            continue
        hint = np.load(path)
        if hint.shape != sequence.depth.shape:
            raise ValueError(f"hints {path} have shape {hint.shape}, the walk-through "
                             f"{sequence.depth.shape}: make them at the training size")
        sequence.hint = hint.astype(np.float16)
        kept.append(sequence)
    if not kept:
        raise FileNotFoundError(f"no hint file for these walk-throughs in {folder} (make them "
                                f"with python -m edgegeo.training.mvs.hints)")
    return kept


def choose_sources(distance: np.ndarray, reference: int, count: int,
                   pose_range: tuple[float, float], rng: np.random.Generator) -> list[int]:
    """Up to ``count`` source frames for ``reference`` (see the module docstring).

    Args:
        distance: ``(F, F)`` pose distances of the sequence.
        reference: the reference frame's index.
        count: sources wanted.
        pose_range: ``(low, high)`` pose distances preferred.
    Returns:
        Distinct frame indices ≠ ``reference``, in random order (fewer than ``count`` only if the
        sequence is that short).
    """
    low, high = pose_range
    row = distance[reference]
    others = np.array([j for j in range(len(row)) if j != reference], dtype=np.int64)
    in_range = others[(row[others] >= low) & (row[others] <= high)]
    if len(in_range) >= count:
        chosen = rng.choice(in_range, size=count, replace=False)
    else:
        rest = np.setdiff1d(others, in_range)
        gap = np.maximum(low - row[rest], row[rest] - high)
        fill = rest[np.argsort(gap, kind="stable")[:count - len(in_range)]]
        chosen = rng.permutation(np.concatenate([in_range, fill]))
    return [int(i) for i in chosen]


def stream_sources(world_T_cams: np.ndarray, reference: int, count: int,
                   rng: np.random.Generator, forward_only: bool = False) -> list[int]:
    """The sources :class:`edgegeo.models.mvs.MVSStream` would give ``reference``: the frames
    before it (or, with probability ½, after it, the walk-through played backwards) pass
    through a DeepVideoMVS :class:`~edgegeo.models.mvs.keyframes.KeyframeBuffer`, and the
    ``count`` buffered keyframes with the lowest source penalty are chosen.

    Args:
        world_T_cams: ``(F, 4, 4)`` camera-to-world poses of the sequence.
        reference: the reference frame's index.
        count: sources wanted.
        forward_only: never play the walk-through backwards.
    Returns:
        Distinct frame indices ≠ ``reference`` in random order; fewer than ``count`` (possibly
        none) near the start of the chosen direction, as in a stream whose buffer is filling.
    """
    backwards = rng.random() >= 0.5 and not forward_only
    before = range(reference) if not backwards else range(len(world_T_cams) - 1,
                                                                 reference, -1)
    buffer = KeyframeBuffer()
    for index in before:
        buffer.try_add(world_T_cams[index], index)
    chosen = [keyframe.item for keyframe in buffer.sources_for(world_T_cams[reference], count)]
    return [int(i) for i in rng.permutation(np.asarray(chosen, dtype=np.int64))]


def mvs_batch(data: SequenceSet, batch_size: int, num_sources: int, seed: int,
              pose_range: tuple[float, float], drop_sources_p: float = 0.0,
              min_sources: int = 1, crop_size: tuple[int, int] | None = None,
              stream_sources_p: float = 0.0, hint_drop_p: float = 0.0
              ) -> dict[str, torch.Tensor]:
    """One training batch of ``batch_size`` random tuples.

    Args:
        stream_sources_p: chance a tuple's sources are :func:`stream_sources` (those with fewer
            than ``num_sources`` of them fall back to :func:`choose_sources`).
        crop_size: ``(h, w)`` reference crop (top-left corner at multiples of 4, uniformly
            placed), or None for whole frames.
        hint_drop_p: chance a tuple's hint is all zeros (sequences with hints only).
    Returns:
        ``image (B, 3, h, w)`` and ``src_images (B, S, 3, H, W)`` float32 RGB in [0, 1];
        ``depth (B, 1, h, w)`` and ``src_depth (B, S, 1, H, W)`` float32 metres (0 = none);
        ``K (B, 3, 3)`` (of the crop), ``src_K (B, S, 3, 3)``, ``src_T_ref (B, S, 4, 4)``
        float32 (reference camera → source camera); ``source_valid (B, S)`` bool (False =
        padding: black image, zero depth, the reference frame's K, identity pose); with
        hints also ``hint_depth (B, 1, h, w)`` float32 metres (0 = none).
    """
    rng = np.random.default_rng(seed)
    lengths = np.array([len(s) for s in data.sequences])
    picks = rng.choice(len(lengths), size=batch_size, p=lengths / lengths.sum())
    out = {key: [] for key in ("image", "src_images", "depth", "src_depth", "K", "src_K",
                               "src_T_ref", "source_valid")}
    for sequence_index in picks:
        sequence = data.sequences[int(sequence_index)]
        reference = int(rng.integers(len(sequence)))
        sources = []
        if stream_sources_p and rng.random() < stream_sources_p:
            sources = stream_sources(sequence.world_T_cam, reference, num_sources, rng,
                                     forward_only=sequence.hint is not None)
        if len(sources) < min(num_sources, len(sequence) - 1):
            sources = choose_sources(sequence.distance, reference, num_sources, pose_range, rng)
        keep = len(sources)
        if keep > min_sources and rng.random() < drop_sources_p:
            keep = int(rng.integers(min_sources, keep))            # min_sources … keep − 1
        sources = sources[:keep]
        pad = num_sources - len(sources)
        height, width = sequence.rgb.shape[1:3]
        src_rgb = np.concatenate([sequence.rgb[sources],
                                  np.zeros((pad, height, width, 3), np.uint8)])
        src_depth = np.concatenate([sequence.depth[sources],
                                    np.zeros((pad, height, width), np.float32)])
        src_K = np.concatenate([sequence.K[sources],
                                np.repeat(sequence.K[reference][None], pad, axis=0)])
        ref_pose = sequence.world_T_cam[reference]
        poses = [relative_pose(sequence.world_T_cam[j], ref_pose) for j in sources]
        src_T_ref = np.stack(poses + [np.eye(4)] * pad)
        crop_h, crop_w = crop_size or (height, width)
        if crop_h > height or crop_w > width:
            raise ValueError(f"crop {crop_size} is larger than the {height}x{width} frames")
        top = 4 * int(rng.integers((height - crop_h) // 4 + 1))
        left = 4 * int(rng.integers((width - crop_w) // 4 + 1))
        window = (slice(top, top + crop_h), slice(left, left + crop_w))
        out["image"].append(sequence.rgb[reference][window])
        out["src_images"].append(src_rgb)
        out["depth"].append(sequence.depth[reference][window][None])
        out["src_depth"].append(src_depth[:, None])
        out["K"].append(crop_K(sequence.K[reference], left, top))
        out["src_K"].append(src_K)
        out["src_T_ref"].append(src_T_ref)
        out["source_valid"].append(np.arange(num_sources) < len(sources))
        if sequence.hint is not None:
            hint = sequence.hint[reference][window].astype(np.float32)
            out.setdefault("hint_depth", []).append(
                hint[None] * np.float32(rng.random() >= hint_drop_p))

    def rgb(images: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(images)).movedim(-1, -3).float() / 255.0

    batch = {"image": rgb(out["image"]), "src_images": rgb(out["src_images"]),
             "source_valid": torch.from_numpy(np.stack(out["source_valid"]))}
    if "hint_depth" in out and len(out["hint_depth"]) != batch_size:
        raise ValueError("some walk-throughs of this set have depth hints and some not")
    for key in ("depth", "src_depth", "K", "src_K", "src_T_ref", "hint_depth"):
        if key in out:
            batch[key] = torch.from_numpy(np.stack(out[key]).astype(np.float32))
    return batch
