"""The data streams of the Depth Anything recipe.

* **Labelled**: synthetic frames (RGB + GT depth) of training scenes — rendered shards
  (``edgegeo data render``, e.g. ``data/synth-train``) or, for smoke runs and fresh clones,
  scenes generated in memory from ``TRAIN_SEEDS``. Targets are GT disparity ``1/depth``; depth 0
  (no surface) is masked.
* **Unlabelled**: real photos of :data:`~edgegeo.data.splits.TRAINING_PHOTOS` (scikit-image;
  never the evaluation-only Motorcycle pair) heavily cropped (random resized crops, aspect
  jitter, flips), mixed with synthetic frames used without their labels.

Batches are built on the CPU from a per-step seed (see :func:`edgegeo.training.data.seeded_batches`)
and hold ``(B, 3, h, w) float32`` RGB in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgegeo.data.splits import EVALUATION_ONLY_IMAGES, TRAIN_SEEDS, TRAINING_PHOTOS, check_seeds

from .augment import (camera_augment, crop_resize_depth, crop_resize_rgb, fourier_style,
                      random_resized_crop_box)


RIG_SEED_FACTOR = 1_000_003   # `edgegeo data render`: walk-through seed = scene seed × this


@dataclass
class LabelledFrames:
    """Synthetic frames in memory: ``rgb (N, H, W, 3) uint8``, ``depth (N, H, W) float32``
    metres (0 = invalid), and where they came from."""

    rgb: np.ndarray
    depth: np.ndarray
    source: str

    def __len__(self) -> int:
        return len(self.rgb)


def load_shard_frames(root: str | Path, max_scenes: int | None = None) -> LabelledFrames:
    """All frames of the ``scene_*`` shards under ``root`` (sorted; the first ``max_scenes``),
    or of a packed ``.npz`` (``edgegeo data pack --rig walkthrough``; JPEG RGB).

    Raises:
        FileNotFoundError: no shard under ``root`` (says how to render them).
    """
    from edgegeo.data.synthetic import is_packed, read_packed, read_shard, scene_shards

    if is_packed(root):          # one .npz from `edgegeo data pack --rig walkthrough`
        shards = list(read_packed(root, "walkthrough", purpose="mono-depth training",
                                  max_scenes=max_scenes or 0).values())
    else:
        shards = [read_shard(shard) for shard in
                  scene_shards(root, purpose="mono-depth training", max_scenes=max_scenes or 0)]
    rgb, depth = [], []
    for frames in shards:
        for frame in frames:
            rgb.append(frame.rgb)
            depth.append(frame.depth.astype(np.float32))
    sizes = {image.shape for image in rgb}
    if len(sizes) != 1:
        raise ValueError(f"frames under {root} differ in size: {sorted(sizes)}")
    return LabelledFrames(np.stack(rgb), np.stack(depth),
                          f"{len(shards)} rendered scenes ({len(rgb)} frames) from {root}")


def load_labelled_folders(roots: str, max_scenes: int | None = None) -> LabelledFrames:
    """Frames of several shard folders (or packed ``.npz``), given comma-separated, all of one
    frame size: :func:`load_shard_frames` of each (``max_scenes`` per folder), concatenated."""
    parts = [load_shard_frames(root.strip(), max_scenes) for root in roots.split(",")
             if root.strip()]
    if not parts:
        raise ValueError(f"no training data folder in {roots!r}")
    if len(parts) == 1:
        return parts[0]
    sizes = {part.rgb.shape[1:] for part in parts}
    if len(sizes) != 1:
        raise ValueError(f"the folders of {roots!r} hold frames of different sizes: {sizes}")
    return LabelledFrames(np.concatenate([p.rgb for p in parts]),
                          np.concatenate([p.depth for p in parts]),
                          " + ".join(p.source for p in parts))


def generate_frames(seeds, frames_per_scene: int, height: int, width: int,
                    split: range = TRAIN_SEEDS, purpose: str = "mono-depth training data"
                    ) -> LabelledFrames:
    """Render walk-through frames of freshly generated scenes.

    Args:
        seeds: scene seeds, all inside ``split`` (training by default; pass ``VAL_SEEDS`` for
            model selection).
        frames_per_scene, height, width: frames per scene and their size in pixels.
    """
    from edgegeo.data.synthetic import generate_scene, walkthrough

    seeds = list(seeds)
    check_seeds(seeds, split, purpose)
    rgb, depth = [], []
    for seed in seeds:
        # The rig seed of `edgegeo data render`: generated data equals the rendered shards.
        for frame in walkthrough(generate_scene(seed), frames_per_scene, width, height,
                                 seed=seed * RIG_SEED_FACTOR, progress=False):
            rgb.append(frame.rgb)
            depth.append(frame.depth.astype(np.float32))
    return LabelledFrames(np.stack(rgb), np.stack(depth),
                          f"{len(seeds)} scenes generated in memory (seeds {seeds[0]}–"
                          f"{seeds[-1]}, {frames_per_scene} frames each, {width}x{height})")


def load_training_photos() -> list[np.ndarray]:
    """The :data:`TRAINING_PHOTOS` as ``(H, W, 3) uint8`` RGB (grey replicated, RGBA composed
    on white)."""
    from skimage import data as skdata

    photos = []
    for name in TRAINING_PHOTOS:
        if any(name in banned for banned in EVALUATION_ONLY_IMAGES):
            raise ValueError(f"{name} is evaluation-only")
        image = np.asarray(getattr(skdata, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        elif image.shape[2] == 4:
            alpha = image[..., 3:4].astype(np.float32) / 255.0
            image = (image[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
        photos.append(np.ascontiguousarray(image[..., :3]))
    return photos


def labelled_batch(frames: LabelledFrames, count: int, out_hw: tuple[int, int], seed: int,
                   crop_area: tuple[float, float], camera: bool = False,
                   styles: list[np.ndarray] | None = None, style_p: float = 0.0,
                   style_beta: tuple[float, float] = (0.005, 0.02)) -> dict[str, torch.Tensor]:
    """``count`` random frames, random resized crops (area fraction ``crop_area`` of the
    frame: the scene at many pixel scales) and flips; with ``camera``, each crop also goes
    through :func:`~.augment.camera_augment` (exposure, white balance, blur, noise, JPEG);
    with ``styles`` (real photos), each crop with probability ``style_p`` takes the
    low-frequency amplitudes of a random crop of one of them (:func:`~.augment.fourier_style`,
    ``beta`` uniform in ``style_beta``).

    Returns:
        ``image (B, 3, h, w)`` float32 [0, 1], ``disparity (B, 1, h, w)`` float32 (``1/depth``,
        0 where invalid) and ``valid (B, 1, h, w)`` bool.
    """
    rng = np.random.default_rng(seed)
    images, depths = [], []
    height, width = frames.rgb.shape[1:3]
    for index in rng.integers(0, len(frames), size=count):
        box = random_resized_crop_box(height, width, out_hw, rng, crop_area)
        flip = bool(rng.random() < 0.5)
        if camera:     # augment the crop only (cheaper), then take all of it
            top, left, h, w = box
            rgb = camera_augment(frames.rgb[index][top:top + h, left:left + w], rng)
            images.append(crop_resize_rgb(rgb, (0, 0, h, w), out_hw, flip))
        else:
            images.append(crop_resize_rgb(frames.rgb[index], box, out_hw, flip))
        depths.append(crop_resize_depth(frames.depth[index], box, out_hw, flip))
        if styles and style_p > 0 and rng.random() < style_p:
            photo = styles[int(rng.integers(len(styles)))]
            photo_box = random_resized_crop_box(*photo.shape[:2], out_hw, rng, (0.2, 1.0))
            images[-1] = fourier_style(images[-1], crop_resize_rgb(photo, photo_box, out_hw, False),
                                       float(rng.uniform(*style_beta)))
    depth = torch.stack(depths)
    valid = depth > 1e-3
    disparity = torch.where(valid, 1.0 / depth.clamp_min(1e-3), torch.zeros_like(depth))
    return {"image": torch.stack(images), "disparity": disparity, "valid": valid}


def unlabelled_batch(photos: list[np.ndarray], frames: LabelledFrames, count: int,
                     out_hw: tuple[int, int], seed: int, photo_fraction: float,
                     photo_crop_area: tuple[float, float], frame_crop_area: tuple[float, float]
                     ) -> torch.Tensor:
    """``count`` unlabelled images ``(B, 3, h, w)`` float32 [0, 1]: each a real photo with
    probability ``photo_fraction`` (random resized crop of area ``photo_crop_area`` with
    aspect jitter, flip), else a synthetic frame without its label (crop ``frame_crop_area``,
    flip)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        if photos and rng.random() < photo_fraction:
            image = photos[int(rng.integers(len(photos)))]
            box = random_resized_crop_box(*image.shape[:2], out_hw, rng, photo_crop_area,
                                          aspect_jitter=0.3)
        else:
            image = frames.rgb[int(rng.integers(len(frames)))]
            box = random_resized_crop_box(*image.shape[:2], out_hw, rng, frame_crop_area)
        images.append(crop_resize_rgb(image, box, out_hw, bool(rng.random() < 0.5)))
    return torch.stack(images)


def row_prior_disparity(height: int, width: int) -> np.ndarray:
    """The image-row prior the learning curve and the checkpoint tables compare with:
    disparity rising linearly from the top row to the bottom one, ``(H, W) float32`` (as
    ``edgegeo eval mono``'s row)."""
    return np.repeat(np.linspace(1.0, 2.0, height, dtype=np.float32)[:, None], width, axis=1)
