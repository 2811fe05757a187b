"""Depth ×N upsampling methods compared with the learned JBU, one signature for all:

    method(depth_lowres (h, w) float32 metres, 0 = invalid, image (H, W, 3) uint8) -> (H, W)
    float32 metres

- ``bilinear`` / ``bicubic``: interpolation of ``[depth·valid, valid]``, renormalised (invalid
  pixels do not bleed), 0 where the nearest low-resolution pixel is invalid;
- ``opencv_jbf``: ``cv2.ximgproc.jointBilateralFilter`` on the bilinear upsampling, guided by
  the image;
- ``guided_filter``: ``cv2.ximgproc.guidedFilter`` on the bilinear upsampling;
- ``fixed_jbu``: ``edgegeo.ops.joint_bilateral_upsample`` (placed samples, fixed sigmas);
- the learned JBU: ``edgegeo.load("jbu")``.

The parameters of the three filters are tuned on training frames with :func:`tune`, never on
the frames they are reported on.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from edgegeo.metrics.depth import depth_metrics

from .network import area_downsample_depth

Upsampler = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Search grids of the filters' parameters (tuned on training frames).
OPENCV_JBF_GRID = {"d": [5, 9, 13, 17], "sigma_color": [4.0, 8.0, 16.0, 32.0],
                   "sigma_space": [2.0, 4.0, 8.0]}
GUIDED_FILTER_GRID = {"radius": [1, 2, 4, 8], "eps": [1e-4, 1e-3, 1e-2, 1e-1]}
FIXED_JBU_GRID = {"radius": [3, 4, 6], "sigma_spatial": [1.5, 3.0, 6.0],
                  "sigma_range": [0.015, 0.03, 0.06, 0.12]}


def _interpolate(depth: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    source = torch.from_numpy(np.ascontiguousarray(depth, np.float32))[None, None]
    valid = (source > 0).float()
    both = F.interpolate(torch.cat([source * valid, valid], 1), size=size, mode=mode,
                         align_corners=False)
    nearest = F.interpolate(valid, size=size, mode="nearest")
    weight = both[:, 1:]
    usable = (nearest > 0) & (weight > 1e-3)
    out = torch.where(usable, both[:, :1] / weight.clamp_min(1e-3), torch.zeros_like(weight))
    if mode == "bicubic":  # cubic lobes may overshoot: keep the input's range
        values = source[source > 0]
        if values.numel():
            out = torch.where(usable, out.clamp(float(values.min()), float(values.max())), out)
    return out[0, 0].numpy()


def bilinear(depth: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Bilinear interpolation to the image size (invalid-aware)."""
    return _interpolate(depth, image.shape[:2], "bilinear")


def bicubic(depth: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Bicubic interpolation to the image size (invalid-aware, clamped to the input range)."""
    return _interpolate(depth, image.shape[:2], "bicubic")


def opencv_jbf(depth: np.ndarray, image: np.ndarray, d: int = 9, sigma_color: float = 16.0,
               sigma_space: float = 4.0) -> np.ndarray:
    """``cv2.ximgproc.jointBilateralFilter(image, bilinear(depth), d, sigma_color,
    sigma_space)``: sigma_color in 8-bit grey levels, sigma_space and d in pixels."""
    import cv2

    up = bilinear(depth, image)
    joint = np.ascontiguousarray(image, np.float32)   # same depth as src, 0-255 units
    out = cv2.ximgproc.jointBilateralFilter(joint, up, d, sigma_color, sigma_space)
    return np.where(up > 0, out, 0).astype(np.float32)


def guided_filter(depth: np.ndarray, image: np.ndarray, radius: int = 4,
                  eps: float = 1e-3) -> np.ndarray:
    """``cv2.ximgproc.guidedFilter(image, bilinear(depth), radius, eps)``, image in [0, 1]
    (eps in squared [0, 1] units)."""
    import cv2

    up = bilinear(depth, image)
    guide = np.ascontiguousarray(image, np.float32) / 255.0
    out = cv2.ximgproc.guidedFilter(guide, up, radius, eps)
    return np.where(up > 0, out, 0).astype(np.float32)


def fixed_jbu(depth: np.ndarray, image: np.ndarray, radius: int = 4, sigma_spatial: float = 3.0,
              sigma_range: float = 0.1) -> np.ndarray:
    """``edgegeo.ops.joint_bilateral_upsample`` to the image size (scale from the sizes)."""
    from edgegeo.ops import joint_bilateral_upsample

    scale = image.shape[0] / depth.shape[0]
    return joint_bilateral_upsample(np.ascontiguousarray(depth, np.float32), image, scale,
                                    radius, sigma_spatial, sigma_range)


def evaluate(method: Upsampler, samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
             ) -> dict[str, float]:
    """Mean per-frame depth metrics of ``method`` over ``(depth_lowres, image, gt)`` samples
    (``edgegeo.metrics.depth.depth_metrics``; rmse in metres, abs_rel, a125 ...)."""
    rows = [depth_metrics(method(low, image), gt) for low, image, gt in samples]
    return {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}


def tune(method: Callable[..., np.ndarray], grid: dict[str, list],
         samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], metric: str = "rmse"
         ) -> tuple[dict, float]:
    """The grid point of ``method``'s keyword parameters with the lowest mean ``metric`` on
    ``samples`` (training frames).

    Returns:
        ``(best parameters, its metric)``.
    """
    best: tuple[dict, float] | None = None
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values))
        score = evaluate(partial(method, **params), samples)[metric]
        if best is None or score < best[1]:
            best = (params, score)
    return best


def make_samples(frames, scale: int, limit: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(depth_lowres, image, gt)`` triples of indexable ``(rgb, depth)`` frames: the frame
    cropped to a multiple of ``scale`` and its depth area-downsampled (invalid-aware); frames
    taken evenly spaced when ``limit`` is smaller than their number."""
    count = len(frames)
    picks = range(count) if not limit or limit >= count else \
        np.linspace(0, count - 1, limit).round().astype(int)
    samples = []
    for index in picks:
        rgb, depth = frames[int(index)]
        height, width = depth.shape[0] // scale * scale, depth.shape[1] // scale * scale
        gt = np.ascontiguousarray(depth[:height, :width])
        samples.append((area_downsample_depth(gt, scale),
                        np.ascontiguousarray(rgb[:height, :width]), gt))
    return samples
