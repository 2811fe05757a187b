"""Input limits, stated once: what edgegeo accepts before a network, an op or a decoder
allocates anything, and the checks every public call shares (so torch, ONNX Runtime and
TensorRT see the same ones: a predictor validates before it calls its backend).

* **Images into networks**: the long side at most :data:`MAX_ASPECT` times the short one
  (beyond it a clear error: crop or pad the image), and the network input at most
  :data:`MAX_NETWORK_PIXELS` (predictors scale their working size down to fit, the result comes
  back at the input's size).
* **Image files**: the header is read first; an image over :data:`MAX_IMAGE_PIXELS` is refused
  before its pixels are allocated.
* **Geometry**: intrinsics must make sense for the image they describe (focal length between
  :data:`FOCAL_RANGE` times the image's long side, principal point within
  :data:`PRINCIPAL_POINT_RANGE` of the image, all exactly representable in float32); depth and
  translations at most :data:`MAX_DISTANCE_M` (float32 keeps ~7 digits: a kilometre-scale
  scene loses millimetres, and beyond this nothing a depth camera sees is left).
* **Op parameters** (the bilateral upsampling): scale ≤ :data:`MAX_UPSAMPLE_SCALE`, radius ≤
  :data:`MAX_RADIUS`.
"""
from __future__ import annotations

import math

import numpy as np

MAX_ASPECT = 16.0
MAX_NETWORK_PIXELS = 4096 * 4096
MAX_IMAGE_PIXELS = 100_000_000
FOCAL_RANGE = (0.01, 1000.0)
PRINCIPAL_POINT_RANGE = (-1.0, 2.0)
MAX_DISTANCE_M = 1.0e5
MAX_UPSAMPLE_SCALE = 64
MAX_RADIUS = 64


def check_aspect(height: int, width: int, what: str = "image") -> None:
    """Refuse an image too elongated for a network (ValueError naming the ratio)."""
    if min(height, width) < 1:
        raise ValueError(f"{what} is empty: {width}x{height}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT:
        raise ValueError(f"{what} is {width}x{height}, an aspect ratio of {ratio:.0f}:1; the "
                         f"models take at most {MAX_ASPECT:g}:1 — crop or pad it")


def check_image_pixels(height: int, width: int, what: str = "image") -> None:
    """Refuse an image (file) larger than :data:`MAX_IMAGE_PIXELS`."""
    if height * width > MAX_IMAGE_PIXELS:
        raise ValueError(f"{what} is {width}x{height} = {height * width / 1e6:.0f} MP, over "
                         f"the {MAX_IMAGE_PIXELS / 1e6:.0f} MP edgegeo decodes")


def check_intrinsics_for_image(K: np.ndarray, hw: tuple[int, int], name: str = "K"
                               ) -> np.ndarray:
    """``K`` (a valid ``(3,3)``, see :func:`edgegeo.geometry.validate_K`) checked against the
    ``(H, W)`` image it describes: focal lengths within :data:`FOCAL_RANGE` × the long side,
    principal point within :data:`PRINCIPAL_POINT_RANGE` × the size. Returns K (float64)."""
    from edgegeo.geometry import validate_K

    K = validate_K(K, name)
    height, width = hw
    side = max(height, width)
    low, high = FOCAL_RANGE
    for label, focal in (("fx", K[0, 0]), ("fy", K[1, 1])):
        if not low * side <= focal <= high * side:
            raise ValueError(f"{name}: {label} = {focal:.6g} px is implausible for a "
                             f"{width}x{height} image (expected {low * side:g}–{high * side:g}"
                             " px): are the intrinsics for another resolution?")
    low, high = PRINCIPAL_POINT_RANGE
    for label, centre, size in (("cx", K[0, 2], width), ("cy", K[1, 2], height)):
        if not low * size <= centre <= high * size:
            raise ValueError(f"{name}: {label} = {centre:.6g} px is far outside the "
                             f"{width}x{height} image")
    return K


def check_distances(values, name: str, limit: float = MAX_DISTANCE_M) -> None:
    """Refuse NaN/inf or magnitudes over ``limit`` metres in ``values`` (any array)."""
    values = np.asarray(values)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} has NaN/inf values")
    if values.size and float(np.abs(values).max()) > limit:
        raise ValueError(f"{name} reaches {float(np.abs(values).max()):.3g} m, beyond the "
                         f"{limit:g} m edgegeo handles (float32 precision)")


def fit_network_pixels(height: int, width: int, max_pixels: int = MAX_NETWORK_PIXELS
                       ) -> float:
    """The scale (≤ 1) that brings an ``height × width`` network input within ``max_pixels``."""
    pixels = height * width
    return 1.0 if pixels <= max_pixels else math.sqrt(max_pixels / pixels)


__all__ = ["FOCAL_RANGE", "MAX_ASPECT", "MAX_DISTANCE_M", "MAX_IMAGE_PIXELS",
           "MAX_NETWORK_PIXELS", "MAX_RADIUS", "MAX_UPSAMPLE_SCALE", "PRINCIPAL_POINT_RANGE",
           "check_aspect", "check_distances", "check_image_pixels", "check_intrinsics_for_image",
           "fit_network_pixels"]
