"""Training pairs of the ``stereo`` recipe.

Each sample is, with probability ``layered_share``, a procedural layered pair
(:mod:`edgegeo.data.synthetic.layered_stereo`: slanted textured planes, thin bars, holes; its
largest disparity drawn log-uniformly so near and far pairs are both common), otherwise a
rendered room pair (``edgegeo data render --rig stereo``) rescaled by a random factor (the
disparities scale with it) and cropped. Then both views get their own photometric change, as
two real cameras do (gain, per-channel colour, gamma, contrast, blur, noise), the right view a
sub-pixel vertical offset some of the time (imperfect rectification), and the pair a vertical
flip half the time (rectification survives it).

Batches: ``left``, ``right`` ``(B, 3, h, w)`` float32 RGB in [0, 1]; ``disparity (B, 1, h, w)``
float32 pixels of the left crop; ``valid (B, 1, h, w)`` bool (GT known).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from edgegeo.data.synthetic.layered_stereo import LayeredStereoConfig, layered_stereo_pair

from ..croco.data import TwoViewImages, _random_crop, _rescale_pair


@dataclass(frozen=True)
class PhotometricJitter:
    """Per-view photometric changes (each view draws its own).

    Attributes:
        gain: brightness factor range ``1 ± gain``.
        colour: per-channel factor range ``1 ± colour``.
        gamma: gamma drawn in ``[1 / gamma, gamma]``.
        contrast: contrast factor range ``1 ± contrast`` about the view's mean.
        blur_share: probability of a Gaussian blur (σ in 0.3–1.2 px).
        noise: largest Gaussian noise σ, in 8-bit levels.
        vertical_share: probability that the right view is offset vertically.
        vertical_px: largest vertical offset of the right view, pixels.
    """

    gain: float = 0.2
    colour: float = 0.08
    gamma: float = 1.25
    contrast: float = 0.2
    blur_share: float = 0.25
    noise: float = 4.0
    vertical_share: float = 0.3
    vertical_px: float = 0.7


def jitter_view(rng: np.random.Generator, view: np.ndarray, jitter: PhotometricJitter
                ) -> np.ndarray:
    """``(h, w, 3) uint8`` → ``(h, w, 3) float32`` in [0, 1] with its own photometric change."""
    x = view.astype(np.float32) / 255.0
    if rng.random() < jitter.blur_share:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.2)))
    x = np.clip(x, 0, 1) ** float(np.exp(rng.uniform(-1, 1) * np.log(jitter.gamma)))
    x = x * rng.uniform(1 - jitter.colour, 1 + jitter.colour, 3).astype(np.float32)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - jitter.contrast, 1 + jitter.contrast) + mean
    x = x * rng.uniform(1 - jitter.gain, 1 + jitter.gain)
    x = x + rng.normal(0, rng.uniform(0, jitter.noise) / 255.0, x.shape).astype(np.float32)
    return np.clip(x, 0, 1).astype(np.float32)


def _vertical_offset(rng: np.random.Generator, view: np.ndarray, jitter: PhotometricJitter
                     ) -> np.ndarray:
    if rng.random() >= jitter.vertical_share:
        return view
    shift = np.float32([[1, 0, 0], [0, 1, rng.uniform(-jitter.vertical_px, jitter.vertical_px)]])
    return cv2.warpAffine(view, shift, view.shape[1::-1], flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def draw_layered(rng: np.random.Generator, crop_hw: tuple[int, int], config: LayeredStereoConfig,
                 min_disparity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A layered pair whose largest disparity is log-uniform in ``[min_disparity,
    config.max_disparity]``."""
    top = float(np.exp(rng.uniform(np.log(min_disparity), np.log(config.max_disparity))))
    return layered_stereo_pair(rng, *crop_hw, LayeredStereoConfig(
        **{**config.__dict__, "max_disparity": top}))


def draw_rendered(rng: np.random.Generator, pairs: TwoViewImages, crop_hw: tuple[int, int],
                  scale_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random rendered pair, rescaled (at least enough to fit the crop) and cropped."""
    index = int(rng.integers(len(pairs)))
    height, width = pairs.first.shape[1:3]
    smallest = max(crop_hw[0] / height, crop_hw[1] / width)
    scale = max(smallest, float(np.exp(rng.uniform(*np.log(scale_range)))))
    left, right, disparity = _rescale_pair(pairs.first[index], pairs.second[index],
                                           pairs.disparity[index], scale)
    rows, cols = _random_crop(rng, *left.shape[:2], crop_hw)
    return left[rows, cols], right[rows, cols], disparity[rows, cols]


def stereo_training_batch(count: int, crop_hw: tuple[int, int], seed: int,
                          pairs: TwoViewImages | None, layered_share: float,
                          layered: LayeredStereoConfig, layered_min_disparity: float,
                          scale_range: tuple[float, float], jitter: PhotometricJitter
                          ) -> dict[str, torch.Tensor]:
    """``count`` augmented pairs (see the module docstring); ``pairs`` None = layered only."""
    rng = np.random.default_rng(seed)
    lefts, rights, disparities = [], [], []
    for _ in range(count):
        if pairs is None or rng.random() < layered_share:
            left, right, disparity = draw_layered(rng, crop_hw, layered, layered_min_disparity)
        else:
            left, right, disparity = draw_rendered(rng, pairs, crop_hw, scale_range)
        right = _vertical_offset(rng, right, jitter)
        left, right = jitter_view(rng, left, jitter), jitter_view(rng, right, jitter)
        if rng.random() < 0.5:
            left, right, disparity = left[::-1], right[::-1], disparity[::-1]
        lefts.append(torch.from_numpy(np.ascontiguousarray(left)).permute(2, 0, 1))
        rights.append(torch.from_numpy(np.ascontiguousarray(right)).permute(2, 0, 1))
        disparities.append(torch.from_numpy(np.ascontiguousarray(disparity, np.float32)))
    disparity = torch.stack(disparities).unsqueeze(1)
    return {"left": torch.stack(lefts), "right": torch.stack(rights), "disparity": disparity,
            "valid": disparity > 0}
