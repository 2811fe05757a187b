"""Classic (fixed-parameter) joint bilateral upsampling (Kopf et al. 2007), built on
``adaptive_conv``.

Each low-resolution pixel k is a sample placed at its own position in the high-resolution grid,
``p_k = floor((k + 0.5) * H / h)`` per axis (pixel centres aligned with the image corners), and
every output pixel q is the normalised sum over the samples in its (2r+1)^2 window:

    out(q) = sum_o k_q(o) * v(q+o) * s(q+o) / sum_o k_q(o) * v(q+o)
    k_q(o) = exp(-|o|^2 / 2 sigma_spatial^2) * exp(-|g(q+o) - g(q)|^2 / 2 sigma_range^2)

with s the map upsampled by placing its samples (zero between them), v its validity (1 at valid
samples, 0 elsewhere) and g the guide (RGB in [0, 1], Euclidean distance); offsets o are in
high-resolution pixels. The window k_q is computed from the guide once and applied by
``adaptive_conv`` to the channels [s*v, v] together; outside the image v = 0.

Why placed samples rather than a bilinear upsampling followed by the filter: interpolation
mixes the values of both sides of an edge before the guide is consulted, so the filter can only
average contaminated values; placed samples keep each low-resolution value at one position,
whose guide colour decides its weight. On a step edge aligned with the low-resolution grid the
output is an exact step (bilinear-then-filter leaves ~0.07 of a unit step of error per pixel
near the edge); see tests/test_ops_bilateral.py.

Invalid pixels: with ``mask_zeros`` (the default, for depth / disparity where 0 = invalid) v is
0 at samples whose value is 0, so an invalid pixel has zero weight everywhere: it never pulls
its valid neighbours towards 0, and the output is 0 exactly where no valid sample is within the
window. Without it (feature maps, where 0 is a value) every sample has v = 1.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from edgegeo.limits import MAX_RADIUS, MAX_UPSAMPLE_SCALE
from edgegeo.ops.adaptive import _c_contiguous, adaptive_conv


def joint_bilateral_kernels(guide: torch.Tensor, radius: int, sigma_spatial: float,
                            sigma_range: float) -> torch.Tensor:
    """Per-pixel joint bilateral windows of a guide image, unnormalised.

    Args:
        guide: ``(B, 3, H, W)`` float tensor, RGB in [0, 1].
        radius: window radius r in pixels (window 2r+1 square).
        sigma_spatial: spatial Gaussian standard deviation, pixels.
        sigma_range: range Gaussian standard deviation, in guide units (RGB distance).

    Returns:
        ``(B, H, W, 2r+1, 2r+1)`` weights in [0, 1], 1 at the centre tap, guide's dtype; taps
        past the border see the replicated border pixel.
    """
    batch, _, height, width = guide.shape
    size = 2 * radius + 1
    padded = F.pad(guide, (radius, radius, radius, radius), mode="replicate")
    offsets = torch.arange(-radius, radius + 1, dtype=guide.dtype, device=guide.device)
    spatial = torch.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma_spatial ** 2))
    taps = []
    for i in range(size):
        for j in range(size):
            difference = padded[:, :, i:i + height, j:j + width] - guide
            taps.append(spatial[i, j] * torch.exp(-(difference * difference).sum(1)
                                                  / (2 * sigma_range ** 2)))
    return torch.stack(taps, dim=-1).view(batch, height, width, size, size)


def _sample_positions(low: int, high: int) -> torch.Tensor:
    """High-resolution index of each of ``low`` pixels along an axis of ``high`` pixels:
    ``floor((k + 0.5) * high / low)``, int64 ``(low,)``, strictly increasing for high >= low."""
    return (2 * torch.arange(low) + 1) * high // (2 * low)


def _min_radius(low: int, high: int) -> int:
    """Smallest window radius for which every pixel of the axis has a sample in reach: the
    largest distance from a pixel to its nearest sample (at the ends, or mid-gap)."""
    positions = _sample_positions(low, high).tolist()
    gaps = [b - a for a, b in zip(positions, positions[1:])]
    return max(positions[0], high - 1 - positions[-1], max(gaps, default=0) // 2)


def _upsample(src: torch.Tensor, guide: torch.Tensor, radius: int, sigma_spatial: float,
              sigma_range: float, mask_zeros: bool) -> torch.Tensor:
    """Tensor core of ``joint_bilateral_upsample``: (B,C,h,w) src, (B,3,H,W) guide in [0,1]."""
    batch, channels, low_height, low_width = src.shape
    height, width = guide.shape[-2:]
    kernels = joint_bilateral_kernels(guide.to(src.dtype), radius, sigma_spatial, sigma_range)
    # src * valid == src when 0 marks invalid pixels
    valid = (src != 0).to(src.dtype) if mask_zeros else torch.ones_like(src[:, :1])
    samples = torch.cat([src, valid], dim=1)
    placed = src.new_zeros(batch, samples.shape[1], height + 2 * radius, width + 2 * radius)
    rows = _sample_positions(low_height, height).to(src.device) + radius
    columns = _sample_positions(low_width, width).to(src.device) + radius
    placed[:, :, rows[:, None], columns[None, :]] = samples
    filtered = adaptive_conv(placed, kernels.contiguous())
    numerator, weight = filtered[:, :channels], filtered[:, channels:]
    reached = weight > 0
    return torch.where(reached, numerator / torch.where(reached, weight, 1), 0)


def _check_parameters(scale: float, radius: int, sigma_spatial: float, sigma_range: float) -> None:
    if not (isinstance(radius, (int, np.integer)) and 0 <= radius <= MAX_RADIUS):
        raise ValueError(f"radius must be an integer in [0, {MAX_RADIUS}], got {radius!r}")
    if not (math.isfinite(scale) and 1 <= scale <= MAX_UPSAMPLE_SCALE):
        raise ValueError(f"scale must be a number in [1, {MAX_UPSAMPLE_SCALE}] (an upsampling), "
                         f"got {scale!r}")
    for name, value in (("sigma_spatial", sigma_spatial), ("sigma_range", sigma_range)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_sizes(low: tuple[int, int], high: tuple[int, int], scale: float, radius: int) -> None:
    """The guide is the src scaled by ``scale``, and every window holds a src sample."""
    expected = (round(low[0] * scale), round(low[1] * scale))
    if tuple(high) != expected:
        raise ValueError(f"guide is {high[0]}x{high[1]} but src {low[0]}x{low[1]} at scale "
                         f"{scale} gives {expected[0]}x{expected[1]}")
    needed = max(_min_radius(low[0], high[0]), _min_radius(low[1], high[1]))
    if radius < needed:
        raise ValueError(f"radius {radius} leaves output pixels with no src pixel in their "
                         f"window at scale {scale}: use radius >= {needed}")


def _image_pair_to_tensors(src: np.ndarray, guide: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h,w)`` map and ``(H,W,3) uint8`` image to ``(1,1,h,w)`` and ``(1,3,H,W)`` in [0,1]."""
    if not (isinstance(guide, np.ndarray) and guide.dtype == np.uint8 and guide.ndim == 3
            and guide.shape[2] == 3):
        raise ValueError("with a (h, w) src, guide must be an (H, W, 3) uint8 numpy image, got "
                         f"{type(guide).__name__} {getattr(guide, 'dtype', '')} "
                         f"{tuple(getattr(guide, 'shape', ()))}")
    source = torch.from_numpy(np.ascontiguousarray(src))[None, None]
    image = torch.from_numpy(np.ascontiguousarray(guide)).permute(2, 0, 1)[None]
    return source, image.to(source.dtype) / 255


def _batch_pair_to_tensors(src, guide) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B,C,h,w)`` map and ``(B,3,H,W)`` float guide (numpy or torch, same kind) to
    C-contiguous tensors (strided inputs copied once, differentiably for tensors)."""
    if type(src) is not type(guide):
        raise ValueError(f"src and guide must both be numpy arrays or both torch tensors, got "
                         f"{type(src).__name__} and {type(guide).__name__}")
    # numpy: from_numpy refuses negative strides, so copy to C order first
    source, image = _c_contiguous(src), _c_contiguous(guide)
    if isinstance(source, np.ndarray):
        source, image = torch.from_numpy(source), torch.from_numpy(image)
    if image.ndim != 4 or image.shape[1] != 3 or image.shape[0] != source.shape[0]:
        raise ValueError(f"with a (B, C, h, w) src of batch {source.shape[0]}, guide must be "
                         f"(B, 3, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"a (B, 3, H, W) guide must be float RGB in [0, 1], got {image.dtype}")
    if image.device != source.device:
        raise ValueError(f"src is on {source.device}, guide on {image.device}")
    return source, image


def joint_bilateral_upsample(src, guide, scale: float, radius: int = 3,
                             sigma_spatial: float = 2.0, sigma_range: float = 0.1, *,
                             mask_zeros: bool = True):
    """Upsample a low-resolution map to the guide's resolution, edges following the guide.

    Args:
        src: the low-resolution map, either ``(h, w)`` float32/float64 numpy (depth in metres,
            disparity in pixels, 0 = invalid) or ``(B, C, h, w)`` float numpy array or torch
            tensor (depth, disparity or features).
        guide: the full-resolution image: ``(H, W, 3) uint8`` RGB numpy with a 2-D src,
            ``(B, 3, H, W)`` float RGB in [0, 1] of src's kind (and device) with a 4-D src.
        scale: upsampling factor >= 1; the guide must be ``round(h*scale) x round(w*scale)``.
        radius: window radius in high-resolution pixels (window 2r+1 square); at least about
            scale / 2 so that every window holds a src pixel (checked), typically ~scale.
        sigma_spatial: spatial Gaussian standard deviation, high-resolution pixels.
        sigma_range: range Gaussian standard deviation on the guide, RGB distance in [0, 1]
            units (0.1 is about 25 grey levels).
        mask_zeros: treat 0 as invalid (depth / disparity): invalid pixels get no weight and
            the output is 0 where no valid pixel is within reach. False for feature maps.

    src and guide may have any strided layout (slices, transposed / permuted views, negative
    numpy strides): an input that is not C-contiguous is copied to C order once, on entry (for
    tensors the copy is part of the graph, so gradients reach the original views), so the
    result is the same, bit for bit, as for C-contiguous copies of the inputs.

    Returns:
        ``(H, W)`` numpy for a 2-D src, else ``(B, C, H, W)`` of src's kind; src's dtype.
        Differentiable wrt tensor inputs.

    Raises:
        ValueError: bad shapes, dtypes or parameters, a guide whose size does not match
            ``scale``, or NaN/inf in src.
    """
    _check_parameters(scale, radius, sigma_spatial, sigma_range)
    if getattr(src, "ndim", None) not in (2, 4):
        raise ValueError(f"src must be (h, w) or (B, C, h, w), got shape "
                         f"{tuple(getattr(src, 'shape', ()))}")
    as_image = src.ndim == 2
    if as_image and not isinstance(src, np.ndarray):
        raise ValueError("a 2-D src must be a numpy array; use (B, C, h, w) for tensors")
    if 0 in tuple(src.shape):
        raise ValueError(f"src is empty: shape {tuple(src.shape)}")
    to_tensors = _image_pair_to_tensors if as_image else _batch_pair_to_tensors
    source, image = to_tensors(src, guide)
    if source.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"src must be float32 or float64, got {source.dtype}")
    if not bool(torch.isfinite(source).all()):
        raise ValueError("src contains NaN or inf; mark invalid pixels with 0")
    _check_sizes(tuple(source.shape[-2:]), tuple(image.shape[-2:]), scale, radius)
    out = _upsample(source, image, radius, sigma_spatial, sigma_range, mask_zeros)
    if as_image:
        return out[0, 0].numpy()
    return out.numpy() if isinstance(src, np.ndarray) else out
