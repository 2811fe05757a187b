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
from edgegeo.data.images import load_image, read_depth_png, save_image, write_depth_png

from .rigs import StereoPair, ViewPair

def _same_for_all(frames: list[Frame], name: str) -> bool:
    present = [getattr(frame, name) is not None for frame in frames]
    if any(present) and not all(present):
        raise ValueError(f"some frames have {name} and some do not; a shard needs all or none")
    return all(present)


def scene_shards(root, split: range | None = None, purpose: str = "these shards",
                 max_scenes: int = 0, missing_ok: bool = False, rig: str = "walkthrough"
                 ) -> list[Path]:
    """The ``scene_<seed>`` shard folders under ``root`` (as ``edgegeo data render`` writes
    them), sorted; the first ``max_scenes`` if > 0.

    Args:
        split: if given, every shard's scene seed must lie in it (e.g. ``TRAIN_SEEDS``).
        purpose: what the shards are for, for the error message.
        missing_ok: return ``[]`` instead of raising when there is none.
        rig: the rig that wrote them: ``walkthrough`` (a frame shard, ``meta.npz``), ``stereo``
            (``stereo.npz``) or ``pairs`` (``pairs.npz``).
    Raises:
        FileNotFoundError: no shard under ``root`` (says how to render them).
        ValueError: a shard whose seed is unreadable or outside ``split``.
    """
    from edgegeo.data.splits import check_seeds

    markers = {"walkthrough": "meta.npz", "stereo": "stereo.npz", "pairs": "pairs.npz"}
    if rig not in markers:
        raise ValueError(f"unknown rig {rig!r}; one of {', '.join(markers)}")
    root = Path(root)
    shards = sorted(p for p in root.glob("scene_*") if (p / markers[rig]).is_file())
    if not shards:
        if missing_ok:
            return []
        raise FileNotFoundError(f"no rendered scenes under {root} for {purpose}; render them with "
                                f"`edgegeo data render --rig {rig} --out {root} --scenes N "
                                f"--frames M --seed S`")
    shards = shards[:max_scenes] if max_scenes > 0 else shards
    if split is not None:
        seeds = []
        for shard in shards:
            try:
                seeds.append(int(shard.name.split("_", 1)[1]))
            except ValueError:
                raise ValueError(f"cannot read the scene seed from shard name {shard.name}") from None
        check_seeds(seeds, split, purpose)
    return shards


def write_shard(directory, frames: list[Frame]) -> Path:
    """Write frames (all the same size) to a shard folder (created; files overwritten).

    Depth is rounded to the millimetre.

    Returns:
        The shard folder.
    Raises:
        ValueError for no frames, mixed sizes, missing poses, or depth beyond 65.535 m.
    """
    if not frames:
        raise ValueError("write_shard needs at least one frame")
    directory = Path(directory)
    sizes = {frame.hw for frame in frames}
    if len(sizes) != 1:
        raise ValueError(f"frames of one shard must share a size, got {sorted(sizes)}")
    if not _same_for_all(frames, "world_T_cam") or not _same_for_all(frames, "depth"):
        raise ValueError("shard frames need world_T_cam and depth")
    for index, frame in enumerate(frames):
        save_image(directory / f"{index:06d}_rgb.png", frame.rgb)
        try:
            write_depth_png(directory / f"{index:06d}_depth.png", frame.depth)
        except ValueError as error:
            raise ValueError(f"frame {index}: {error}") from None
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
    directory = Path(directory)
    if not (directory / "meta.npz").is_file():
        raise FileNotFoundError(f"no shard at {directory} (missing meta.npz)")
    with np.load(directory / "meta.npz") as meta:
        arrays = {key: meta[key] for key in meta.files}
    frames = []
    for index in range(len(arrays["K"])):
        timestamp = float(arrays["timestamp"][index])
        frames.append(Frame(
            rgb=load_image(directory / f"{index:06d}_rgb.png"), K=arrays["K"][index],
            depth=read_depth_png(directory / f"{index:06d}_depth.png"),
            world_T_cam=arrays["world_T_cam"][index],
            normals=arrays["normals"][index] if "normals" in arrays else None,
            instance=arrays["instance"][index] if "instance" in arrays else None,
            timestamp=None if np.isnan(timestamp) else timestamp))
    return frames


def _write_two_view_shard(directory, views: tuple[str, str], frames: tuple[list, list],
                          table: str, arrays: dict[str, np.ndarray]) -> Path:
    """Two frame shards ``directory/views[i]`` plus ``directory/table`` holding ``arrays``."""
    directory = Path(directory)
    for view, view_frames in zip(views, frames):
        write_shard(directory / view, view_frames)
    np.savez_compressed(directory / table, **arrays)
    return directory


def _read_two_view_shard(directory, views: tuple[str, str], table: str):
    """``(first frames, second frames, {array name: array})`` of a two-view shard."""
    directory = Path(directory)
    if not (directory / table).is_file():
        raise FileNotFoundError(f"no two-view shard at {directory} (missing {table})")
    first, second = (read_shard(directory / view) for view in views)
    with np.load(directory / table) as data:
        return first, second, {key: data[key] for key in data.files}


def write_stereo_shard(directory, pairs: list[StereoPair]) -> Path:
    """Write stereo pairs: ``left/`` and ``right/`` shards plus ``stereo.npz`` with
    ``disparity (N,H,W) float32``, ``occlusion (N,H,W) bool``, ``baseline_m (N,) float64``."""
    if not pairs:
        raise ValueError("write_stereo_shard needs at least one pair")
    return _write_two_view_shard(
        directory, ("left", "right"), ([p.left for p in pairs], [p.right for p in pairs]),
        "stereo.npz", {"disparity": np.stack([p.disparity for p in pairs]).astype(np.float32),
                       "occlusion": np.stack([p.occlusion for p in pairs]).astype(bool),
                       "baseline_m": np.array([p.baseline_m for p in pairs], np.float64)})


def read_stereo_shard(directory) -> list[StereoPair]:
    """Read stereo pairs written by :func:`write_stereo_shard`."""
    left, right, data = _read_two_view_shard(directory, ("left", "right"), "stereo.npz")
    return [StereoPair(l, r, data["disparity"][i], data["occlusion"][i], float(data["baseline_m"][i]))
            for i, (l, r) in enumerate(zip(left, right))]


PAIR_SCORES = ("overlap_iou", "viewpoint_angle_deg", "croco_score")


def write_view_pair_shard(directory, pairs: list[ViewPair]) -> Path:
    """Write view pairs: ``first/`` and ``second/`` shards plus ``pairs.npz`` with
    ``overlap_iou``, ``viewpoint_angle_deg``, ``croco_score`` (each ``(N,) float64``)."""
    if not pairs:
        raise ValueError("write_view_pair_shard needs at least one pair")
    return _write_two_view_shard(
        directory, ("first", "second"), ([p.first for p in pairs], [p.second for p in pairs]),
        "pairs.npz", {name: np.array([getattr(p, name) for p in pairs], np.float64) for name in PAIR_SCORES})


def read_view_pair_shard(directory) -> list[ViewPair]:
    """Read view pairs written by :func:`write_view_pair_shard`."""
    first, second, data = _read_two_view_shard(directory, ("first", "second"), "pairs.npz")
    return [ViewPair(a, b, *(float(data[name][i]) for name in PAIR_SCORES))
            for i, (a, b) in enumerate(zip(first, second))]
