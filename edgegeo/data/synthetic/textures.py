"""Texture images for the synthetic scene engine: photos shipped with scikit-image and
procedural patterns, each stored as a square sRGB image with its mip pyramid.

Photos are loaded lazily (first use) and cached for the process. One-hue procedural patterns
(noise, planks, tiles, stripes) are grey images that a material tints; each is cached in a few
variants chosen with the caller's ``numpy.random.Generator``, so scenes stay reproducible per
seed while sharing texture memory. Plain colours are the white texture tinted. Every pattern is
tileable (periodic) so world-scale texture mapping shows no seams inside a tile.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TEXTURE_SIZE = 512
"""Side of every texture's finest mip level, in texels."""

MIN_MIP_SIZE = 4
"""Side of the coarsest mip level kept, in texels."""

GRAY_PHOTOS = ("brick", "grass", "gravel", "camera", "coins", "moon", "page", "text", "clock")
"""scikit-image photos stored as grey levels (tinted by the material)."""

COLOR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                "hubble_deep_field", "retina", "colorwheel")
"""scikit-image colour photos. The Middlebury *Motorcycle* pair that scikit-image also ships is
evaluation-only and is never a texture (:data:`EVALUATION_ONLY_PHOTOS`)."""

EVALUATION_ONLY_PHOTOS = ("stereo_motorcycle",)
"""scikit-image images kept out of every texture pool: they score our models."""

PHOTOS = GRAY_PHOTOS + COLOR_PHOTOS

_QUARTER_TURNS = {"brick": 1}
"""Photos stored sideways in scikit-image (the brick courses run vertically there)."""


@dataclass(eq=False)
class Texture:
    """A square sRGB texture and its mip pyramid.

    Attributes:
        name: what the texture shows, e.g. ``"photo:brick"`` or ``"planks"``.
        levels: mip levels, finest first; level ``l`` is ``(S >> l, S >> l, 3) uint8`` sRGB
            with ``S = TEXTURE_SIZE``, down to ``MIN_MIP_SIZE`` texels.
    """

    name: str
    levels: list[np.ndarray]

    @classmethod
    def from_image(cls, name: str, image: np.ndarray) -> "Texture":
        """Build a texture from an ``(S,S,3) uint8`` sRGB image with ``S = TEXTURE_SIZE``."""
        import cv2

        if image.shape != (TEXTURE_SIZE, TEXTURE_SIZE, 3) or image.dtype != np.uint8:
            raise ValueError(f"texture {name!r}: expected ({TEXTURE_SIZE},{TEXTURE_SIZE},3) uint8, "
                             f"got {image.shape} {image.dtype}")
        levels = [image]
        while levels[-1].shape[0] > MIN_MIP_SIZE:
            size = levels[-1].shape[0] // 2
            levels.append(cv2.resize(levels[-1], (size, size), interpolation=cv2.INTER_AREA))
        return cls(name, levels)

    @property
    def mean_rgb(self) -> np.ndarray:
        """Mean colour, ``(3,) float64`` sRGB in [0, 1]."""
        return self.levels[-1].reshape(-1, 3).mean(axis=0) / 255.0


def _square_crop_resize(image: np.ndarray) -> np.ndarray:
    """Centre-crop an ``(H,W)`` or ``(H,W,C)`` image to a square, resize to TEXTURE_SIZE, RGB uint8."""
    import cv2

    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > TEXTURE_SIZE else cv2.INTER_CUBIC
    return cv2.resize(square, (TEXTURE_SIZE, TEXTURE_SIZE), interpolation=interpolation)


@functools.lru_cache(maxsize=None)
def photo_texture(name: str) -> Texture:
    """The scikit-image photo ``name`` (one of ``PHOTOS``) as a Texture; loaded once per process.

    Grey photos are returned as grey RGB; their contrast is stretched to the full range so the
    material tint decides the colour.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo texture {name!r}; choose from {', '.join(PHOTOS)}")
    import skimage.data

    image = getattr(skimage.data, name)()
    image = np.rot90(image, _QUARTER_TURNS.get(name, 0))
    if name in GRAY_PHOTOS:
        gray = image.astype(np.float64) if image.ndim == 2 else image[..., :3].mean(axis=2)
        low, high = np.percentile(gray, [1, 99])
        image = np.clip((gray - low) / max(high - low, 1e-6) * 255.0, 0, 255).astype(np.uint8)
    return Texture.from_image(f"photo:{name}", _square_crop_resize(image))


def fractal_noise(rng: np.random.Generator, size: int = TEXTURE_SIZE, beta: float = 2.0,
                  min_period: float = 2.0, stretch_u: float = 1.0) -> np.ndarray:
    """Tileable 1/f^beta noise: white noise filtered in the Fourier domain (so it is periodic).

    Args:
        rng: random generator.
        size: side in texels.
        beta: spectral slope (≈2: natural textures, smaller: finer grain).
        min_period: shortest wavelength kept, in texels (removes per-texel speckle).
        stretch_u: features are this many times longer along u (columns) than along v.
    Returns:
        ``(size,size) float32`` noise scaled to [0, 1] (periodic in both axes).
    """
    rows = np.fft.fftfreq(size)[:, None]
    columns = np.fft.rfftfreq(size)[None, :] * stretch_u
    radius = np.hypot(rows, columns)
    radius[0, 0] = 1.0
    amplitude = radius ** (-beta / 2.0)
    amplitude[radius > 1.0 / min_period] = 0.0
    amplitude[0, 0] = 0.0
    field = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((size, size))) * amplitude, s=(size, size))
    field -= field.min()
    return (field / max(field.max(), 1e-12)).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _noise_field(beta: float, stretch_u: float, variant: int) -> np.ndarray:
    """A cached, read-only fractal noise field (see :func:`fractal_noise`)."""
    rng = np.random.default_rng([0, int(round(beta * 10)), int(round(stretch_u * 10)), variant])
    field = fractal_noise(rng, beta=beta, stretch_u=stretch_u)
    field.flags.writeable = False
    return field


def _quantised_beta(beta: float) -> float:
    """Spectral slope rounded to 0.2 (bounds how many noise fields are cached)."""
    return round(float(beta) * 5) / 5


def _mix(color_a, color_b, weight: np.ndarray) -> np.ndarray:
    """Blend two sRGB colours (values in [0,1]) by ``weight (S,S)`` in [0,1] → ``(S,S,3) uint8``
    (through a 256-entry palette)."""
    ramp = np.linspace(0.0, 1.0, 256)[:, None]
    a, b = np.asarray(color_a, np.float64), np.asarray(color_b, np.float64)
    palette = np.clip((a + (b - a) * ramp) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return palette[(np.clip(weight, 0, 1) * 255.0 + 0.5).astype(np.uint8)]


def _gray(weight: np.ndarray, darkest: float) -> np.ndarray:
    """Grey image ``1 − (1 − darkest)·weight`` as ``(S,S,3) uint8`` (white where weight = 0)."""
    return _mix((1.0, 1.0, 1.0), (darkest,) * 3, weight)


POOL_VARIANTS = 3
"""Distinct random variants cached per grey pattern; materials pick one and tint it."""


@functools.lru_cache(maxsize=None)
def white() -> Texture:
    """A white texture: plain-coloured (textureless) materials are white × their tint."""
    return Texture.from_image("plain", np.full((TEXTURE_SIZE, TEXTURE_SIZE, 3), 255, np.uint8))


@functools.lru_cache(maxsize=None)
def _noise_pattern(beta: float, darkest: float, variant: int) -> Texture:
    return Texture.from_image("noise", _gray(_noise_field(beta, 1.0, variant), darkest))


def noise(rng: np.random.Generator, beta: float = 2.0, darkest: float = 0.8) -> Texture:
    """Fractal-noise grey texture (plaster, concrete, carpet, fabric, foliage) to be tinted.

    Args:
        beta: spectral slope (quantised to 0.2); lower is finer-grained.
        darkest: grey level of the darkest blotches relative to white (quantised to 0.05).
    """
    return _noise_pattern(_quantised_beta(beta), round(float(darkest) * 20) / 20, int(rng.integers(POOL_VARIANTS)))


@functools.lru_cache(maxsize=None)
def _planks_pattern(n_planks: int, darkest: float, variant: int) -> Texture:
    size = TEXTURE_SIZE
    rng = np.random.default_rng([2, n_planks, int(round(darkest * 100)), variant])
    grain = _noise_field(1.6, 12.0, variant)
    rows = np.arange(size)
    plank_of_row = rows * n_planks // size
    tone = rng.uniform(-0.15, 0.15, n_planks)[plank_of_row]
    image = _gray(np.clip(grain * 0.8 + 0.1 + tone[:, None], 0, 1), darkest).astype(np.float32)
    seam = (rows * n_planks) % size < max(2, size // 256)
    image[seam] *= 0.45
    for plank in range(n_planks):  # plank ends at a random offset per plank
        end = int(rng.integers(0, size))
        image[plank_of_row == plank, end:end + 2] *= 0.5
    return Texture.from_image("planks", np.clip(image, 0, 255).astype(np.uint8))


def planks(rng: np.random.Generator, n_planks: int = 4, darkest: float = 0.7) -> Texture:
    """Wood planks along u (grey, to be tinted with the wood colour): per-plank tone, stretched
    grain, dark seams and plank ends.

    Args:
        n_planks: planks across one texture tile (along v).
        darkest: darkest grain relative to the lightest (quantised to 0.05).
    """
    return _planks_pattern(int(n_planks), round(float(darkest) * 20) / 20, int(rng.integers(POOL_VARIANTS)))


def _tile_grout(image: np.ndarray, n_tiles: int, grout_color) -> np.ndarray:
    size = image.shape[0]
    grout = ((np.arange(size) * n_tiles) % size) < max(2, size // 128) * n_tiles
    image[grout, :] = np.asarray(grout_color) * 255
    image[:, grout] = np.asarray(grout_color) * 255
    return image


def checker(rng: np.random.Generator, color_a, color_b, n_tiles: int = 4,
            grout_color=(0.55, 0.55, 0.52)) -> Texture:
    """Checkerboard tiles of two sRGB colours (``(3,)`` in [0, 1]) with grout lines."""
    size = TEXTURE_SIZE
    cells = np.arange(size) * n_tiles // size
    parity = ((cells[:, None] + cells[None, :]) % 2).astype(np.float32)
    speckle = (_noise_field(1.2, 1.0, int(rng.integers(POOL_VARIANTS))) - 0.5) * 0.15
    image = _mix(color_a, color_b, np.clip(parity + speckle, 0, 1))
    return Texture.from_image("checker", _tile_grout(image, n_tiles, grout_color))


@functools.lru_cache(maxsize=None)
def _tiles_pattern(n_tiles: int, variant: int) -> Texture:
    size = TEXTURE_SIZE
    rng = np.random.default_rng([3, n_tiles, variant])
    cells = np.arange(size) * n_tiles // size
    weight = rng.uniform(0.0, 0.35, (n_tiles, n_tiles))[cells[:, None], cells[None, :]]
    speckle = (_noise_field(1.2, 1.0, variant) - 0.5) * 0.15
    image = _gray(np.clip(weight + speckle, 0, 1), 0.85)
    return Texture.from_image("tiles", _tile_grout(image, n_tiles, (0.6, 0.6, 0.58)))


def tiles(rng: np.random.Generator, n_tiles: int = 4) -> Texture:
    """Square tiles of one colour with per-tile shade variation and grout (grey, to be tinted)."""
    return _tiles_pattern(int(n_tiles), int(rng.integers(POOL_VARIANTS)))


def _stripe_weight(rng, n_stripes: int, duty: float) -> np.ndarray:
    size = TEXTURE_SIZE
    phase = (np.arange(size) * n_stripes % size) / size
    weight = np.broadcast_to((phase < duty).astype(np.float32)[None, :], (size, size))
    return np.clip(weight + (_noise_field(1.0, 1.0, int(rng.integers(POOL_VARIANTS))) - 0.5) * 0.1, 0, 1)


@functools.lru_cache(maxsize=None)
def _stripes_pattern(n_stripes: int, duty: float, darkest: float, variant: int) -> Texture:
    rng = np.random.default_rng([4, n_stripes, int(round(duty * 100)), int(round(darkest * 100)), variant])
    return Texture.from_image("stripes", _gray(_stripe_weight(rng, n_stripes, duty), darkest))


def stripes(rng: np.random.Generator, n_stripes: int = 8, duty: float = 0.5, darkest: float = 0.8) -> Texture:
    """Vertical stripes of one hue (wallpaper, fabric; grey, to be tinted): ``n_stripes``
    periods per tile, ``duty`` (quantised to 0.1) of each period at the ``darkest`` shade."""
    return _stripes_pattern(int(n_stripes), round(float(duty), 1), round(float(darkest) * 20) / 20,
                            int(rng.integers(POOL_VARIANTS)))


def two_color_stripes(rng: np.random.Generator, color_a, color_b, n_stripes: int = 8,
                      duty: float = 0.5) -> Texture:
    """Stripes alternating two sRGB colours (``(3,)`` in [0, 1]) (packaging, toys)."""
    return Texture.from_image("stripes", _mix(color_a, color_b, _stripe_weight(rng, n_stripes, duty)))


@functools.lru_cache(maxsize=None)
def sky(variant: int = 0) -> Texture:
    """Sky seen through windows: blue at the top of the tile fading to a pale horizon at the
    bottom, with soft clouds (v grows downwards)."""
    size = TEXTURE_SIZE
    height = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    clouds = np.clip((_noise_field(2.6, 1.0, variant) - 0.55) * 3.0, 0, 1) * (1.0 - height)
    top = np.array([0.35, 0.55, 0.85], np.float32)
    horizon = np.array([0.82, 0.88, 0.93], np.float32)
    image = top + (horizon - top) * height[..., None]
    image = image + (1.0 - image) * clouds[..., None] * 0.8
    return Texture.from_image("sky", np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8))
