"""Datasets on disk. A shard is a folder of frames:

* ``NNNNNN_rgb.png`` — RGB, 8 bit;
* ``NNNNNN_depth.png`` — depth as 16-bit PNG in millimetres (0 = invalid), as TUM/RealSense;
* ``meta.npz`` — ``K (N,3,3) float64``, ``world_T_cam (N,4,4) float64``, ``timestamp (N,)
  float64`` (NaN = unknown), and, when the frames have them, ``normals (N,H,W,3) float32`` and
  ``instance (N,H,W) int32``.

Stereo and view-pair shards hold two frame shards (``left``/``right`` or ``first``/``second``)
plus ``stereo.npz`` (disparity, occlusion, baseline) or ``pairs.npz`` (IoU, angle, score).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgegeo.data.frame import Frame

from .rigs import StereoPair, ViewPair

MAX_DEPTH_M = 65.535
"""Largest depth a 16-bit millimetre PNG holds."""


def _same_for_all(frames: list[Frame], name: str) -> bool:
    present = [getattr(frame, name) is not None for frame in frames]
    if any(present) and not all(present):
        raise ValueError(f"some frames have {name} and some do not; a shard needs all or none")
    return all(present)


def write_shard(directory, frames: list[Frame]) -> Path:
    """Write frames (all the same size) to a shard folder (created; files overwritten).

    Depth is rounded to the millimetre.

    Returns:
        The shard folder.
    Raises:
        ValueError for no frames, mixed sizes, missing poses, or depth beyond 65.535 m.
    """
    import cv2

    if not frames:
        raise ValueError("write_shard needs at least one frame")
    directory = Path(directory)
    sizes = {frame.hw for frame in frames}
    if len(sizes) != 1:
        raise ValueError(f"frames of one shard must share a size, got {sorted(sizes)}")
    if not _same_for_all(frames, "world_T_cam") or not _same_for_all(frames, "depth"):
        raise ValueError("shard frames need world_T_cam and depth")
    directory.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        depth = np.asarray(frame.depth, np.float64)
        if not np.all(np.isfinite(depth)) or depth.min() < 0 or depth.max() > MAX_DEPTH_M:
            raise ValueError(f"frame {index}: depth must be finite in [0, {MAX_DEPTH_M}] m to store as mm PNG")
        millimetres = np.round(depth * 1000.0).astype(np.uint16)
        for name, image in (("rgb", np.ascontiguousarray(frame.rgb[..., ::-1])), ("depth", millimetres)):
            if not cv2.imwrite(str(directory / f"{index:06d}_{name}.png"), image):
                raise OSError(f"could not write {directory / f'{index:06d}_{name}.png'}")
    meta = {
        "K": np.stack([frame.K for frame in frames]).astype(np.float64),
        "world_T_cam": np.stack([frame.world_T_cam for frame in frames]).astype(np.float64),
        "timestamp": np.array([np.nan if frame.timestamp is None else frame.timestamp for frame in frames]),
    }
    if _same_for_all(frames, "normals"):
        meta["normals"] = np.stack([frame.normals for frame in frames]).astype(np.float32)
    if _same_for_all(frames, "instance"):
        meta["instance"] = np.stack([frame.instance for frame in frames]).astype(np.int32)
    np.savez_compressed(directory / "meta.npz", **meta)
    return directory


def read_shard(directory) -> list[Frame]:
    """Read a shard written by :func:`write_shard`.

    Returns:
        Frames with rgb ``uint8``, depth ``float32`` metres (mm precision), K, world_T_cam,
        timestamp, and normals/instance if stored.
    """
    import cv2

    directory = Path(directory)
    if not (directory / "meta.npz").is_file():
        raise FileNotFoundError(f"no shard at {directory} (missing meta.npz)")
    with np.load(directory / "meta.npz") as meta:
        arrays = {key: meta[key] for key in meta.files}
    frames = []
    for index in range(len(arrays["K"])):
        bgr = cv2.imread(str(directory / f"{index:06d}_rgb.png"), cv2.IMREAD_COLOR)
        millimetres = cv2.imread(str(directory / f"{index:06d}_depth.png"), cv2.IMREAD_UNCHANGED)
        if bgr is None or millimetres is None:
            raise FileNotFoundError(f"shard {directory}: frame {index} images missing")
        timestamp = float(arrays["timestamp"][index])
        frames.append(Frame(
            rgb=np.ascontiguousarray(bgr[..., ::-1]), K=arrays["K"][index],
            depth=(millimetres.astype(np.float32) / np.float32(1000.0)),
            world_T_cam=arrays["world_T_cam"][index],
            normals=arrays["normals"][index] if "normals" in arrays else None,
            instance=arrays["instance"][index] if "instance" in arrays else None,
            timestamp=None if np.isnan(timestamp) else timestamp))
    return frames


def write_stereo_shard(directory, pairs: list[StereoPair]) -> Path:
    """Write stereo pairs: ``left/`` and ``right/`` shards plus ``stereo.npz`` with
    ``disparity (N,H,W) float32`` px, ``occlusion (N,H,W) bool``, ``baseline_m (N,) float64``."""
    if not pairs:
        raise ValueError("write_stereo_shard needs at least one pair")
    directory = Path(directory)
    write_shard(directory / "left", [pair.left for pair in pairs])
    write_shard(directory / "right", [pair.right for pair in pairs])
    np.savez_compressed(directory / "stereo.npz",
                        disparity=np.stack([pair.disparity for pair in pairs]).astype(np.float32),
                        occlusion=np.stack([pair.occlusion for pair in pairs]).astype(bool),
                        baseline_m=np.array([pair.baseline_m for pair in pairs], np.float64))
    return directory


def read_stereo_shard(directory) -> list[StereoPair]:
    """Read stereo pairs written by :func:`write_stereo_shard`."""
    directory = Path(directory)
    if not (directory / "stereo.npz").is_file():
        raise FileNotFoundError(f"no stereo shard at {directory} (missing stereo.npz)")
    left, right = read_shard(directory / "left"), read_shard(directory / "right")
    with np.load(directory / "stereo.npz") as data:
        return [StereoPair(l, r, data["disparity"][i], data["occlusion"][i], float(data["baseline_m"][i]))
                for i, (l, r) in enumerate(zip(left, right))]


def write_view_pair_shard(directory, pairs: list[ViewPair]) -> Path:
    """Write view pairs: ``first/`` and ``second/`` shards plus ``pairs.npz`` with
    ``overlap_iou``, ``viewpoint_angle_deg``, ``croco_score`` (each ``(N,) float64``)."""
    if not pairs:
        raise ValueError("write_view_pair_shard needs at least one pair")
    directory = Path(directory)
    write_shard(directory / "first", [pair.first for pair in pairs])
    write_shard(directory / "second", [pair.second for pair in pairs])
    np.savez_compressed(directory / "pairs.npz",
                        **{name: np.array([getattr(pair, name) for pair in pairs], np.float64)
                           for name in ("overlap_iou", "viewpoint_angle_deg", "croco_score")})
    return directory


def read_view_pair_shard(directory) -> list[ViewPair]:
    """Read view pairs written by :func:`write_view_pair_shard`."""
    directory = Path(directory)
    if not (directory / "pairs.npz").is_file():
        raise FileNotFoundError(f"no view-pair shard at {directory} (missing pairs.npz)")
    first, second = read_shard(directory / "first"), read_shard(directory / "second")
    with np.load(directory / "pairs.npz") as data:
        return [ViewPair(a, b, float(data["overlap_iou"][i]), float(data["viewpoint_angle_deg"][i]),
                         float(data["croco_score"][i])) for i, (a, b) in enumerate(zip(first, second))]
