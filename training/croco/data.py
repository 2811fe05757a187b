"""The data of the ``croco`` and ``stereo`` recipes: synthetic two-view images in memory and
seeded random batches of them.

* **Pairs** (pre-training): CroCo v2-scored view pairs (``edgegeo data render --rig pairs``,
  or mined in memory for smoke runs). A batch crops both views at the same place, swaps which
  one is view 1 with probability ½ and flips both horizontally with probability ½.
* **Stereo** (fine-tuning): rectified pairs with GT disparity (``--rig stereo``; baselines
  5–25 cm, fields of view 60–80°, textured and plain surfaces). A batch rescales the pair by
  a random factor (disparities scale with it), crops, flips both views vertically with
  probability ½ (rectification survives it) and jitters each view's gain and contrast a little
  on its own (real rigs never match exactly).

Batches hold ``(B, 3, h, w)`` float32 RGB in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edgegeo.data.splits import check_seeds

PAIR_RIG_SEED = 7_919          # in-memory rigs: rig seed = scene seed × this


@dataclass
class TwoViewImages:
    """Two aligned stacks of views, ``first``/``second`` ``(N, H, W, 3) uint8``, optional GT
    ``disparity (N, H, W) float32`` pixels of the first view (0 = unknown), and their origin."""

    first: np.ndarray
    second: np.ndarray
    source: str
    disparity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.first)


def load_two_view_shards(root: str | Path, rig: str, max_scenes: int = 0,
                         split: range | None = None, purpose: str = "two-view training"
                         ) -> TwoViewImages:
    """Every pair of the ``scene_*`` shards of ``rig`` under ``root``: ``pairs`` (CroCo-scored
    view pairs, no disparity) or ``stereo`` (rectified pairs with GT disparity). ``root`` may
    also be a packed ``.npz`` (``edgegeo data pack``; JPEG RGB, disparity to 1/64 px)."""
    from edgegeo.data.synthetic import (is_packed, read_packed, read_stereo_shard, read_view_pair_shard,
                                        scene_shards)

    if rig not in ("pairs", "stereo"):
        raise ValueError(f"unknown two-view rig {rig!r}; use 'pairs' or 'stereo'")
    if is_packed(root):          # one .npz from `edgegeo data pack`: {seed: pairs}
        shards = list(read_packed(root, rig, split, purpose, max_scenes).values())
    else:
        reader = read_view_pair_shard if rig == "pairs" else read_stereo_shard
        shards = [reader(shard) for shard in scene_shards(root, split, purpose, max_scenes, rig=rig)]
    if rig == "pairs":
        views = [(p.first.rgb, p.second.rgb, None) for pairs in shards for p in pairs]
        kind = "CroCo-scored pairs"
    else:
        views = [(p.left.rgb, p.right.rgb, p.disparity) for pairs in shards for p in pairs]
        kind = "rectified pairs"
    first, second, disparity = zip(*views)
    return TwoViewImages(_stack(first, root), _stack(second, root),
                         f"{len(shards)} rendered scenes ({len(views)} {kind}) from {root}",
                         _stack(disparity, root) if rig == "stereo" else None)


def generate_two_view(rig: str, seeds, per_scene: int, height: int, width: int,
                      split: range, purpose: str) -> TwoViewImages:
    """Render ``per_scene`` pairs (``rig`` = ``pairs`` or ``stereo``) of freshly generated
    scenes with the given seeds (all inside ``split``)."""
    from edgegeo.data.synthetic import generate_scene, mine_view_pairs, stereo_pair

    seeds = list(seeds)
    check_seeds(seeds, split, purpose)
    first, second, disparity = [], [], []
    for seed in seeds:
        scene = generate_scene(seed)
        if rig == "pairs":
            for pair in mine_view_pairs(scene, per_scene, width, height,
                                        seed=seed * PAIR_RIG_SEED, progress=False):
                first.append(pair.first.rgb)
                second.append(pair.second.rgb)
        elif rig == "stereo":
            for index in range(per_scene):
                pair = stereo_pair(scene, width, height, seed=seed * PAIR_RIG_SEED + index)
                first.append(pair.left.rgb)
                second.append(pair.right.rgb)
                disparity.append(pair.disparity)
        else:
            raise ValueError(f"unknown two-view rig {rig!r}; use 'pairs' or 'stereo'")
    return TwoViewImages(np.stack(first), np.stack(second),
                         f"{len(seeds)} scenes generated in memory (seeds {seeds[0]}–"
                         f"{seeds[-1]}, {per_scene} {rig} each, {width}x{height})",
                         np.stack(disparity) if disparity else None)


def _stack(arrays: list[np.ndarray], root) -> np.ndarray:
    sizes = {a.shape for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"views under {root} differ in size: {sorted(sizes)}")
    return np.stack(arrays)


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8`` → ``(3, H, W)`` float32 [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0


def _random_crop(rng: np.random.Generator, height: int, width: int, crop_hw: tuple[int, int]
                 ) -> tuple[slice, slice]:
    crop_h, crop_w = crop_hw
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop {crop_h}x{crop_w} does not fit views of {height}x{width}")
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    return slice(top, top + crop_h), slice(left, left + crop_w)


def pair_batch(pairs: TwoViewImages, count: int, crop_hw: tuple[int, int], seed: int,
               extra: TwoViewImages | None = None, extra_share: float = 0.0,
               extra_shift: int = 0) -> dict[str, torch.Tensor]:
    """``count`` random pairs → ``view1``, ``view2`` ``(B, 3, h, w)`` float32 [0, 1]; each
    drawn from ``extra`` (e.g. rectified stereo pairs) with probability ``extra_share``. View 2
    of an ``extra`` pair is cropped up to ``extra_shift`` pixels away (each axis, uniform,
    kept inside the image) from view 1's window, so that the same place in view 2 is not the
    same content: rebuilding view 1 then needs matching, not copying by position."""
    rng = np.random.default_rng(seed)
    views1, views2 = [], []
    for _ in range(count):
        from_extra = extra is not None and rng.random() < extra_share
        source = extra if from_extra else pairs
        index = rng.integers(0, len(source))
        height, width = source.first.shape[1:3]
        rows, cols = _random_crop(rng, height, width, crop_hw)
        rows2, cols2 = rows, cols
        if from_extra and extra_shift:
            rows2, cols2 = (_shifted(rng, window, extra_shift, size)
                            for window, size in ((rows, height), (cols, width)))
        a, b = source.first[index, rows, cols], source.second[index, rows2, cols2]
        if rng.random() < 0.5:
            a, b = b, a
        if rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        views1.append(_to_tensor(a))
        views2.append(_to_tensor(b))
    return {"view1": torch.stack(views1), "view2": torch.stack(views2)}


def _shifted(rng: np.random.Generator, window: slice, shift: int, size: int) -> slice:
    """``window`` moved by a uniform offset in ``[-shift, shift]``, clipped to ``[0, size)``."""
    length = window.stop - window.start
    start = int(np.clip(window.start + rng.integers(-shift, shift + 1), 0, size - length))
    return slice(start, start + length)


def _rescale_pair(left, right, disparity, scale: float):
    """Resize a rectified pair by ``scale``; disparities are pixels, so they scale too
    (nearest-neighbour resampling keeps depth edges sharp and 0 = unknown intact)."""
    if abs(scale - 1.0) < 1e-6:
        return left, right, disparity
    height, width = left.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    left = cv2.resize(left, size, interpolation=interpolation)
    right = cv2.resize(right, size, interpolation=interpolation)
    disparity = cv2.resize(disparity, size, interpolation=cv2.INTER_NEAREST) * scale
    return left, right, disparity


def _jitter(view: torch.Tensor, rng: np.random.Generator, strength: float) -> torch.Tensor:
    gain = 1.0 + rng.uniform(-strength, strength)
    contrast = 1.0 + rng.uniform(-strength, strength)
    mean = view.mean()
    return ((view - mean) * contrast + mean * gain).clamp(0.0, 1.0)


def stereo_batch(pairs: TwoViewImages, count: int, crop_hw: tuple[int, int], seed: int,
                 scale_range: tuple[float, float] = (1.0, 1.0), jitter: float = 0.1
                 ) -> dict[str, torch.Tensor]:
    """``count`` random rectified pairs.

    Returns:
        ``left``, ``right`` ``(B, 3, h, w)`` float32 [0, 1]; ``disparity (B, 1, h, w)`` float32
        pixels of the left crop; ``valid (B, 1, h, w)`` bool (GT known).
    """
    if pairs.disparity is None:
        raise ValueError("stereo batches need GT disparity (render with --rig stereo)")
    rng = np.random.default_rng(seed)
    lefts, rights, disparities = [], [], []
    for index in rng.integers(0, len(pairs), size=count):
        height, width = pairs.first.shape[1:3]
        smallest = max(crop_hw[0] / height, crop_hw[1] / width)
        scale = max(smallest, float(rng.uniform(*scale_range)))
        left, right, disparity = _rescale_pair(pairs.first[index], pairs.second[index],
                                               pairs.disparity[index], scale)
        rows, cols = _random_crop(rng, *left.shape[:2], crop_hw)
        left, right, disparity = left[rows, cols], right[rows, cols], disparity[rows, cols]
        if rng.random() < 0.5:
            left, right, disparity = left[::-1], right[::-1], disparity[::-1]
        lefts.append(_jitter(_to_tensor(left), rng, jitter))
        rights.append(_jitter(_to_tensor(right), rng, jitter))
        disparities.append(torch.from_numpy(np.ascontiguousarray(disparity, np.float32)))
    return _stereo_tensors(lefts, rights, disparities)


def layered_stereo_batch(count: int, crop_hw: tuple[int, int], seed: int, layered=None,
                         jitter: float = 0.1, pairs: TwoViewImages | None = None,
                         share: float = 1.0, scale_range: tuple[float, float] = (1.0, 1.0)
                         ) -> dict[str, torch.Tensor]:
    """``count`` pairs, each a procedural layered pair
    (:func:`~edgegeo.data.synthetic.layered_stereo.layered_stereo_pair` with ``layered``, a
    ``LayeredStereoConfig``) with probability ``share``, else a rendered pair of ``pairs``
    as in :func:`stereo_batch`. Same outputs as :func:`stereo_batch`."""
    from edgegeo.data.synthetic.layered_stereo import LayeredStereoConfig, layered_stereo_pair

    layered = layered or LayeredStereoConfig()
    rng = np.random.default_rng(seed)
    lefts, rights, disparities = [], [], []
    for _ in range(count):
        if pairs is None or rng.random() < share:
            left, right, disparity = layered_stereo_pair(rng, *crop_hw, layered)
            lefts.append(_jitter(_to_tensor(left), rng, jitter))
            rights.append(_jitter(_to_tensor(right), rng, jitter))
            disparities.append(torch.from_numpy(disparity))
        else:
            one = stereo_batch(pairs, 1, crop_hw, int(rng.integers(2**31)), scale_range, jitter)
            lefts.append(one["left"][0])
            rights.append(one["right"][0])
            disparities.append(one["disparity"][0, 0])
    return _stereo_tensors(lefts, rights, disparities)


def _stereo_tensors(lefts, rights, disparities) -> dict[str, torch.Tensor]:
    disparity = torch.stack(disparities).unsqueeze(1)
    return {"left": torch.stack(lefts), "right": torch.stack(rights), "disparity": disparity,
            "valid": disparity > 0}
