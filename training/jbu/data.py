"""Synthetic RGB-D frames for the JBU recipes and the depth ×4 training batches.

Frames come from pre-rendered shards (``edgegeo data render``), one folder per scene named
``scene_<seed>``; the seed of every scene is checked against the split it is used for
(``edgegeo.data.splits``). When no shard folder exists (a fresh checkout, CI), a few scenes
of the split are rendered on the fly at a small size instead.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from edgegeo.data.splits import check_seeds
from edgegeo.models.jbu import area_downsample_depth

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
_SCENE = re.compile(r"^scene_(\d+)$")


def resolve_data_dir(path: str | Path) -> Path:
    """``path`` as given when it exists (absolute or relative to the working directory), else
    relative to the repository root."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return REPO_ROOT / path


def find_shards(data_dir: str | Path, split: range, purpose: str, max_scenes: int = 0
                ) -> list[Path]:
    """Scene shard folders ``scene_<seed>`` under ``data_dir``, sorted by seed.

    Args:
        data_dir: folder of shards (resolved with :func:`resolve_data_dir`).
        split: the seeds allowed (``TRAIN_SEEDS``, ``TEST_SEEDS``...).
        purpose: what they are for, in the error message.
        max_scenes: keep the first this many (0 = all).
    Returns:
        The folders (empty when ``data_dir`` does not exist or holds none).
    Raises:
        ValueError: a shard's seed lies outside ``split``.
    """
    folder = resolve_data_dir(data_dir)
    if not folder.is_dir():
        return []
    shards = sorted((int(m.group(1)), p) for p in folder.iterdir()
                    if (m := _SCENE.match(p.name)) and (p / "meta.npz").is_file())
    check_seeds([seed for seed, _ in shards], split, purpose)
    shards = shards[:max_scenes] if max_scenes else shards
    return [path for _, path in shards]


class FrameSource:
    """RGB-D frames, decoded lazily and cached (RGB uint8, depth uint16 millimetres).

    Args:
        shards: shard folders (see :func:`find_shards`); frames in shard order.
        frames: or ready ``Frame`` objects (rendered on the fly).
        max_frames_per_scene: keep the first this many frames of each shard (0 = all).
    """

    def __init__(self, shards: Sequence[Path] = (), frames: Sequence = (),
                 max_frames_per_scene: int = 0):
        self._index: list[tuple[Path, int]] = []
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for shard in shards:
            with np.load(shard / "meta.npz") as meta:
                count = len(meta["K"])
            count = min(count, max_frames_per_scene) if max_frames_per_scene else count
            self._index += [(shard, i) for i in range(count)]
        for frame in frames:
            self._cache[len(self._index)] = _pack(frame.rgb, frame.depth)
            self._index.append((Path(), -1))
        if not self._index:
            raise ValueError("no frames: no shards found and none rendered")

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb (H,W,3) uint8, depth (H,W) float32 metres)`` of frame ``item``."""
        if item not in self._cache:
            import cv2

            shard, index = self._index[item]
            bgr = cv2.imread(str(shard / f"{index:06d}_rgb.png"), cv2.IMREAD_COLOR)
            millimetres = cv2.imread(str(shard / f"{index:06d}_depth.png"), cv2.IMREAD_UNCHANGED)
            if bgr is None or millimetres is None:
                raise FileNotFoundError(f"shard {shard}: frame {index} images missing")
            self._cache[item] = (np.ascontiguousarray(bgr[..., ::-1]), millimetres)
        rgb, millimetres = self._cache[item]
        return rgb, millimetres.astype(np.float32) / np.float32(1000.0)


def _pack(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(rgb), np.round(np.asarray(depth) * 1000).astype(np.uint16)


def render_frames(seeds: Sequence[int], split: range, purpose: str, frames_per_scene: int,
                  width: int, height: int) -> list:
    """Walk-through frames of freshly generated scenes (the fallback when no shards exist);
    rig seeds follow ``edgegeo data render`` (``scene_seed * 1_000_003``)."""
    from edgegeo.data.synthetic import generate_scene, walkthrough

    check_seeds(seeds, split, purpose)
    frames = []
    for seed in seeds:
        frames += walkthrough(generate_scene(seed), frames_per_scene, width, height,
                              seed=seed * 1_000_003, progress=False)
    return frames


def load_frames(data_dir: str | Path, split: range, purpose: str, *, max_scenes: int = 0,
                max_frames_per_scene: int = 0, fallback_scenes: int = 1,
                fallback_size: tuple[int, int] = (160, 120)) -> tuple[FrameSource, str]:
    """Frames of ``split`` from the shards in ``data_dir``, or, when there are none, from
    ``fallback_scenes`` scenes rendered now at ``fallback_size`` (W, H).

    Returns:
        ``(frames, description)``, the description for model cards and reports.
    """
    shards = find_shards(data_dir, split, purpose, max_scenes)
    if shards:
        source = FrameSource(shards, max_frames_per_scene=max_frames_per_scene)
        seeds = [int(_SCENE.match(s.name).group(1)) for s in shards]
        return source, (f"{len(source)} frames of {len(shards)} pre-rendered scenes "
                        f"(seeds {min(seeds)}-{max(seeds)}) from {data_dir}")
    seeds = list(split[:fallback_scenes])
    frames = render_frames(seeds, split, purpose, max(1, max_frames_per_scene or 4),
                           *fallback_size)
    return FrameSource(frames=frames), (f"{len(frames)} frames of {len(seeds)} scenes "
                                        f"(seeds {seeds[0]}-{seeds[-1]}) rendered on the fly "
                                        f"at {fallback_size[0]}x{fallback_size[1]}")


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8`` → ``(3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0


def depth_batch(frames: FrameSource, seed: int, batch_size: int, crop: int, scale: int,
                noise_std: float = 0.0, hole_prob: float = 0.0) -> dict[str, torch.Tensor]:
    """One depth-upsampling batch, a pure function of ``seed``.

    Each sample: a random frame, a random ``crop × crop`` window (the whole frame, centred,
    when it is smaller), a random horizontal flip; the input is the ground truth
    area-downsampled ×``scale`` (invalid-aware), times ``1 + noise_std·N(0,1)`` per pixel,
    and with probability ``hole_prob`` one to three rectangles of it set to 0 (invalid).

    Returns:
        ``image (B,3,c,c)`` float32 in [0, 1], ``depth (B,1,c,c)`` metres (the target),
        ``depth_lr (B,1,c/s,c/s)`` metres (0 = invalid); ``c`` = crop (a multiple of scale).
    """
    if crop % scale:
        raise ValueError(f"crop {crop} must be a multiple of the scale {scale}")
    rng = np.random.default_rng(seed)
    images, depths, lows = [], [], []
    for _ in range(batch_size):
        rgb, depth = frames[int(rng.integers(len(frames)))]
        height, width = depth.shape
        size_h, size_w = min(crop, height // scale * scale), min(crop, width // scale * scale)
        top = int(rng.integers(0, height - size_h + 1))
        left = int(rng.integers(0, width - size_w + 1))
        rgb = rgb[top:top + size_h, left:left + size_w]
        depth = depth[top:top + size_h, left:left + size_w]
        if rng.random() < 0.5:
            rgb, depth = rgb[:, ::-1], depth[:, ::-1]
        low = area_downsample_depth(np.ascontiguousarray(depth), scale)
        if noise_std > 0:
            low = low * (1 + noise_std * rng.standard_normal(low.shape)).astype(np.float32)
            low = np.clip(low, 0, None)
        if hole_prob > 0 and rng.random() < hole_prob:
            for _ in range(int(rng.integers(1, 4))):
                h = int(rng.integers(1, max(2, low.shape[0] // 3)))
                w = int(rng.integers(1, max(2, low.shape[1] // 3)))
                y = int(rng.integers(0, low.shape[0] - h + 1))
                x = int(rng.integers(0, low.shape[1] - w + 1))
                low[y:y + h, x:x + w] = 0
        images.append(image_to_tensor(rgb))
        depths.append(torch.from_numpy(np.ascontiguousarray(depth))[None])
        lows.append(torch.from_numpy(np.ascontiguousarray(low, dtype=np.float32))[None])
    return {"image": torch.stack(images), "depth": torch.stack(depths),
            "depth_lr": torch.stack(lows)}
