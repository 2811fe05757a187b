"""Layered stereo pairs: textured, slanted planar layers composited in 2-D with exact disparity.

A FlyingThings-style curriculum for stereo matching that costs ~30 ms a 96×160 pair (2-core
CPU) and needs no ray tracing. Each pair stacks a full-frame background and a few foreground
shapes (random star-shaped polygons), each one a plane in disparity space ``d(x, y) = d₀ +
gₓ(x − cₓ) + g_y(y − c_y)`` painted with a photo or procedural texture at a random scale;
nearer layers (larger mean disparity) cover farther ones. The left view samples each layer at
its own pixel, the right view at the left-view point that lands on it (``x_r = x_l − d(x_l,
y)``), so the GT disparity is exact everywhere, occluded pixels included.

Unlike rendered rooms, whose disparities follow a typical layout (floor near, far wall far), the
disparity here is independent of position and of appearance: a network cannot do better than
the median guess without matching the two views. A few layers are plain (uniform colour) so
that textureless regions are seen too.

The Middlebury *Motorcycle* image is evaluation-only: it is never used as a texture here.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .textures import PHOTOS, TEXTURE_SIZE, fractal_noise, photo_texture

LAYER_PHOTOS = PHOTOS
"""Photo textures of the layers: every texture photo (the evaluation images are none of them)."""
MIN_DISPARITY = 0.5
"""Smallest disparity of any layer, pixels (a slanted plane is raised to stay above it)."""


@dataclass(frozen=True)
class LayeredStereoConfig:
    """How layered pairs are drawn.

    Attributes:
        max_disparity: largest disparity of any layer, pixels (the per-pair maximum is drawn
            uniformly in ``[max_disparity/4, max_disparity]``).
        layers: inclusive range of foreground layers on top of the background.
        max_slant: largest disparity gradient of a layer, pixels per pixel (each axis).
        plain_share: probability that a layer is a plain colour (no texture).
        texture_scale: range of texels per pixel (< 1 magnifies the texture).
        noise_sigma: standard deviation of per-view Gaussian noise, in 8-bit levels.
        gain_jitter: each view's brightness is scaled by a factor in ``1 ± gain_jitter``.
        thin_share: probability that a foreground layer is thin structure instead of a
            polygon: parallel bars 1–6 px wide (slats, railings, spokes), or a grid of them.
        hole_share: probability that a polygon layer has holes (the layer behind shows
            through).
    """

    max_disparity: float = 48.0
    layers: tuple[int, int] = (2, 6)
    max_slant: float = 0.15
    plain_share: float = 0.1
    texture_scale: tuple[float, float] = (0.5, 3.0)
    noise_sigma: float = 2.0
    gain_jitter: float = 0.1
    thin_share: float = 0.0
    hole_share: float = 0.0

    def __post_init__(self):
        if self.max_disparity <= 0 or not 0 <= self.layers[0] <= self.layers[1]:
            raise ValueError(f"max_disparity must be > 0 and layers a (low, high) range, got "
                             f"{self.max_disparity}, {self.layers}")
        if not 0 <= self.max_slant < 0.5 or not 0 <= self.plain_share <= 1:
            raise ValueError("max_slant must be in [0, 0.5) and plain_share in [0, 1]")
        if not 0 <= self.thin_share <= 1 or not 0 <= self.hole_share <= 1:
            raise ValueError("thin_share and hole_share must be in [0, 1]")


NOISE_VARIANTS = 24


@functools.lru_cache(maxsize=None)
def _noise_levels(variant: int) -> tuple[np.ndarray, ...]:
    """Mip levels (finest first, ``(S >> l, S >> l, 1) float32`` in [0, 1]) of one of
    ``NOISE_VARIANTS`` fixed fractal-noise fields (spectral exponents 0.8–2.2): made once per
    process."""
    rng = np.random.default_rng(variant)
    beta = 0.8 + 1.4 * variant / (NOISE_VARIANTS - 1)
    levels = [fractal_noise(rng, TEXTURE_SIZE, beta=beta).astype(np.float32)]
    while levels[-1].shape[0] > 8:
        size = levels[-1].shape[0] // 2
        levels.append(cv2.resize(levels[-1], (size, size), interpolation=cv2.INTER_AREA))
    return tuple(level[..., None] for level in levels)


def _texture_level(rng: np.random.Generator, level: int) -> np.ndarray:
    """Mip level ``level`` (``(S >> level, S >> level, 3) uint8``) of a random texture: a
    photo (not an evaluation image) or fractal noise between two random colours."""
    if rng.random() < 0.5:
        levels = photo_texture(LAYER_PHOTOS[rng.integers(len(LAYER_PHOTOS))]).levels
        return levels[min(level, len(levels) - 1)]
    levels = _noise_levels(int(rng.integers(NOISE_VARIANTS)))
    weight = levels[min(level, len(levels) - 1)]
    color_a, color_b = rng.uniform(0, 1, size=(2, 3)).astype(np.float32)
    return np.clip(255 * (color_a + (color_b - color_a) * weight), 0, 255).astype(np.uint8)


def _thin_mask(rng: np.random.Generator, height: int, width: int, pad: int) -> np.ndarray:
    """Thin structure on a canvas like :func:`_shape_mask`'s: 1–8 parallel bars 1–6 px wide at
    a random angle and spacing (slats, railings, spokes), crossed by a second set half of the
    time (a grid with holes)."""
    canvas = np.zeros((height, width + 2 * pad), np.uint8)
    length = 2 * (height + width)
    for _ in range(1 if rng.random() < 0.5 else 2):
        angle = rng.uniform(0, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        thickness = int(rng.integers(1, 7))
        spacing = rng.uniform(thickness + 3, max(thickness + 4, 0.3 * min(height, width)))
        count = int(rng.integers(1, 9))
        centre = np.array([rng.uniform(0, width) + pad, rng.uniform(0, height)])
        extent = length if rng.random() < 0.5 else rng.uniform(0.3, 1.0) * min(height, width)
        for index in range(count):
            middle = centre + normal * spacing * (index - (count - 1) / 2)
            ends = [middle - direction * extent / 2, middle + direction * extent / 2]
            points = [tuple(int(v) for v in np.round(end * 4)) for end in ends]
            cv2.line(canvas, points[0], points[1], 255, thickness, lineType=cv2.LINE_AA,
                     shift=2)
    return canvas.astype(np.float32) / 255.0


def _punch_holes(rng: np.random.Generator, canvas: np.ndarray, centre: np.ndarray,
                 radius: float) -> None:
    """Cut 1–3 round or elongated holes inside a polygon's radius (in place)."""
    holes = np.zeros(canvas.shape, np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        offset = rng.uniform(-0.5, 0.5, 2) * radius
        axes = (max(1, int(radius * rng.uniform(0.05, 0.3))),
                max(1, int(radius * rng.uniform(0.05, 0.3))))
        cv2.ellipse(holes, tuple(int(v) for v in np.round(centre + offset)), axes,
                    float(rng.uniform(0, 180)), 0, 360, 255, -1, lineType=cv2.LINE_AA)
    canvas *= 1.0 - holes.astype(np.float32) / 255.0


def _shape_mask(rng: np.random.Generator, height: int, width: int, pad: int,
                config: LayeredStereoConfig) -> np.ndarray:
    """A random star-shaped polygon (with holes with probability ``config.hole_share``) or,
    with probability ``config.thin_share``, thin bars (:func:`_thin_mask`), on a canvas
    ``(height, width + 2·pad) float32`` in [0, 1] (column ``pad`` is left-view x = 0); a
    polygon covers roughly 5–40 % of the image."""
    if config.thin_share and rng.random() < config.thin_share:
        return _thin_mask(rng, height, width, pad)
    canvas = np.zeros((height, width + 2 * pad), np.uint8)
    radius = rng.uniform(0.15, 0.45) * min(height, width) * rng.uniform(0.8, 1.6)
    centre = np.array([rng.uniform(0, width) + pad, rng.uniform(0, height)])
    count = int(rng.integers(3, 10))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = radius * rng.uniform(0.4, 1.0, count)
    points = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
    cv2.fillPoly(canvas, [np.round(points * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA,
                 shift=2)
    mask = canvas.astype(np.float32) / 255.0
    if config.hole_share and rng.random() < config.hole_share:
        _punch_holes(rng, mask, centre, radius)
    return mask


def layered_stereo_pair(rng: np.random.Generator, height: int, width: int,
                        config: LayeredStereoConfig = LayeredStereoConfig()
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One rectified pair.

    Returns:
        ``left``, ``right`` ``(height, width, 3) uint8`` RGB and ``disparity (height, width)
        float32`` pixels of the left view (> 0 everywhere).
    """
    top = float(rng.uniform(config.max_disparity / 4, config.max_disparity))
    pad = int(np.ceil(top * 1.5)) + 2
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    count = 1 + int(rng.integers(config.layers[0], config.layers[1] + 1))
    means = np.sort(rng.uniform(MIN_DISPARITY, top, count))        # back (background) to front
    left = np.zeros((height, width, 3), np.float32)
    right = np.zeros_like(left)
    disparity = np.zeros((height, width), np.float32)
    for index, mean in enumerate(means):
        gx, gy = rng.uniform(-config.max_slant, config.max_slant, 2)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        # The layer's disparity at left-view (x, y) is d0 + gx·(x − cx) + gy·(y − cy); its
        # image mean is ≈ mean, raised where a corner would fall below MIN_DISPARITY.
        d0 = mean - gx * (width / 2 - cx) - gy * (height / 2 - cy)
        lowest = d0 + min(-gx * cx, gx * (width - 1 - cx)) + min(-gy * cy, gy * (height - 1 - cy))
        d0 += max(0.0, MIN_DISPARITY - lowest)
        layer_disp = d0 + gx * (xs - cx) + gy * (ys - cy)
        # Right pixel (x_r, y) sees the layer point x_l with x_l − d(x_l, y) = x_r.
        x_left_of_right = ((xs + d0 - gx * cx + gy * (ys - cy)) / (1 - gx)).astype(np.float32)
        colour_left, colour_right = _layer_colours(rng, xs, ys, x_left_of_right, config)
        if index == 0:
            mask_left = np.ones((height, width), np.float32)
            mask_right = mask_left
        else:
            canvas = _shape_mask(rng, height, width, pad, config)
            mask_left = canvas[:, pad:pad + width]
            mask_right = cv2.remap(canvas, x_left_of_right + pad, ys, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        left += mask_left[..., None] * (colour_left - left)
        right += mask_right[..., None] * (colour_right - right)
        disparity = np.where(mask_left >= 0.5, layer_disp, disparity)
    views = []
    for view in (left, right):
        gain = rng.uniform(1 - config.gain_jitter, 1 + config.gain_jitter)
        view = view * gain + rng.normal(0, config.noise_sigma, view.shape)
        views.append(np.clip(view, 0, 255).astype(np.uint8))
    return views[0], views[1], disparity.astype(np.float32)


def _layer_colours(rng, xs, ys, x_left_of_right, config):
    """The layer's colour ``(H, W, 3) float32`` 0–255 seen by the left and the right view."""
    if rng.random() < config.plain_share:
        colour = rng.uniform(0, 255, 3).astype(np.float32)
        plain = np.broadcast_to(colour, xs.shape + (3,))
        return plain, plain
    scale = float(rng.uniform(*config.texture_scale))       # texels per pixel
    level = max(0, int(np.floor(np.log2(scale))))            # mip level: ≤ 2 texels a pixel
    texture = _texture_level(rng, level)
    scale /= 2 ** level
    angle = float(rng.uniform(0, 2 * np.pi))
    offset = rng.uniform(0, texture.shape[0], 2)
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale

    def sample(x):
        u = (cos * x - sin * ys + offset[0]).astype(np.float32)
        v = (sin * x + cos * ys + offset[1]).astype(np.float32)
        return cv2.remap(texture, u, v, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_WRAP).astype(np.float32)

    return sample(xs), sample(x_left_of_right)
