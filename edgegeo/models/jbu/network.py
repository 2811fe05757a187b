"""Learned joint bilateral upsampling (FeatUp's JBU, Fu et al., ICLR 2024): ×2 stages, stacks of
them and the depth upsampler shipped as ``jbu`` (its predictor: :mod:`.predictor`).

One :class:`JBUStage` maps a ``(B, C, h, w)`` source to ``(B, C, 2h, 2w)``, guided by the image
average-pooled to ``2h × 2w``:

    k_q(o) ∝ softmax_o(τ · ⟨p(q+o), p(q)⟩) · exp(−‖o/r‖² / 2σ²)      (7×7 window, r = 3)
    out(q) = Σ_o [k_q(o) + c_q(o)] · bicubic×2(source)(q+o)

where ``p`` is a learned projection of the (ImageNet-normalised) guidance — 1×1 conv 3→32,
GELU, 1×1 conv 32→32 — τ (temperature) and σ (spatial width, in units of the radius) are
learned through their logarithms, ``k_q`` is normalised to sum 1, and ``c_q`` is a small
learned correction (1×1 convs on the 49 kernel values and the guidance, last layer
zero-initialised, so training starts from the plain JBU). The source is padded by reflection
and the kernels are applied with ``edgegeo.ops.adaptive_conv`` (shared across channels). Under
ONNX export without the plugin node the stage is written channels-first instead (taps as
channels, no layout changes: :meth:`JBUStage.forward_channels_first`), which ONNX Runtime runs
faster than the op's decomposition of ``(B, H, W, K, K)`` kernels.
:class:`JBUStack` chains ``n`` stages for ×2ⁿ, each stage guided by the image pooled to its
output size.

:class:`DepthJBU` (the ``jbu`` model) upsamples metric depth ×4 in the normalised-convolution
way: the stack carries the two channels ``[depth · valid, valid]`` and the output is their
ratio, so invalid (0) low-resolution pixels get no weight and never pull depth towards 0.

References:

* Fu et al., "FeatUp: A Model-Agnostic Framework for Features at Any Resolution", ICLR 2024 (code:
  https://github.com/mhamilton723/FeatUp).
* Kopf et al., "Joint Bilateral Upsampling", SIGGRAPH 2007.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..common import IMAGENET_MEAN, IMAGENET_STD
from edgegeo.ops.exportable import adaptive_conv, exporting_decomposed, local_correlation


def pool_guidance(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The image average-pooled to ``size``.

    Args:
        image: ``(B, 3, H, W)`` float.
        size: ``(h, w)`` output size, ``h <= H`` and ``w <= W``.

    Returns:
        ``(B, 3, h, w)``: a plain average over ``H/h × W/w`` blocks when both ratios are the
        same integer (the case of a stack, and the exportable one), else adaptive average
        pooling. The image itself when it already has that size.
    """
    height, width = image.shape[-2:]
    if (height, width) == tuple(size):
        return image
    factor = height // size[0]
    if factor * size[0] == height and factor * size[1] == width:
        return F.avg_pool2d(image, factor)
    return F.adaptive_avg_pool2d(image, size)


def _reflect_pad(x: torch.Tensor, radius: int) -> torch.Tensor:
    return F.pad(x, (radius, radius, radius, radius), mode="reflect")


def _window(x: torch.Tensor, radius: int) -> list[torch.Tensor]:
    """The ``(2r+1)²`` shifted copies ``x[..., h+i−r, w+j−r]`` of ``x (B, C, H, W)``, row-major
    ``(i, j)``, reflected past the borders (each ``(B, C, H, W)``)."""
    padded = _reflect_pad(x, radius)
    height, width = x.shape[-2:]
    size = 2 * radius + 1
    return [padded[..., i:i + height, j:j + width] for i in range(size) for j in range(size)]


class JBUStage(nn.Module):
    """One ×2 learned joint bilateral upsampling stage (see the module docstring).

    Args:
        radius: window radius r (window ``2r+1`` square, 7×7 for r = 3), in output pixels.
        key_dim: channels of the guidance projection (32).
        correction_hidden: hidden channels of the kernel-correction MLP; 0 disables it.
        sigma: initial spatial σ, in units of the radius (offsets o/r lie in [−1, 1]).
        temperature: initial range temperature τ.

    Learned: ``range_proj`` (the projection p), ``log_temperature`` (τ = exp, clamped to
    [1e-4, 1e4]), ``log_sigma`` (σ = exp, ≥ 1e-3) and ``correction``.
    """

    def __init__(self, radius: int = 3, key_dim: int = 32, correction_hidden: int = 32,
                 sigma: float = 1.0, temperature: float = 1.0):
        super().__init__()
        if radius < 1 or key_dim < 1 or correction_hidden < 0 or sigma <= 0 or temperature <= 0:
            raise ValueError(f"JBUStage needs radius >= 1, key_dim >= 1, correction_hidden >= 0 "
                             f"and positive sigma/temperature, got {radius}, {key_dim}, "
                             f"{correction_hidden}, {sigma}, {temperature}")
        self.radius = radius
        self.size = 2 * radius + 1
        taps = self.size * self.size
        self.range_proj = nn.Sequential(nn.Conv2d(3, key_dim, 1), nn.GELU(),
                                        nn.Conv2d(key_dim, key_dim, 1))
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        if correction_hidden:
            # per-pixel MLP over the kernel's taps and the guidance (1×1 convs, channels last)
            self.correction = nn.Sequential(nn.Linear(taps + 3, correction_hidden), nn.GELU(),
                                            nn.Linear(correction_hidden, taps))
            nn.init.zeros_(self.correction[-1].weight)
            nn.init.zeros_(self.correction[-1].bias)
        else:
            self.correction = None
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float32) / radius
        squared = (offsets[:, None] ** 2 + offsets[None, :] ** 2).reshape(taps)
        self.register_buffer("offset_sq", squared, persistent=False)

    @property
    def temperature(self) -> torch.Tensor:
        """τ > 0 (scalar tensor)."""
        return self.log_temperature.exp().clamp(1e-4, 1e4)

    @property
    def sigma(self) -> torch.Tensor:
        """σ > 0 in units of the radius (scalar tensor)."""
        return self.log_sigma.exp().clamp_min(1e-3)

    def spatial_weights(self) -> torch.Tensor:
        """``exp(−‖o/r‖² / 2σ²)`` of the window's ``K²`` taps, row-major ``(K²,)``."""
        return torch.exp(-self.offset_sq / (2 * self.sigma ** 2))

    def range_logits(self, guidance: torch.Tensor) -> torch.Tensor:
        """``τ · ⟨p(q+o), p(q)⟩`` for every output pixel q and window offset o.

        Args:
            guidance: ``(B, 3, H, W)`` normalised guidance at the output size.
        Returns:
            ``(B, H, W, K²)``, taps in row-major (dy, dx) order; reflection past the borders.
        """
        correlation = local_correlation(self.range_proj(guidance), self.radius)
        batch, height, width = correlation.shape[:3]
        return self.temperature * correlation.reshape(batch, height, width, -1)

    def base_kernels(self, guidance: torch.Tensor) -> torch.Tensor:
        """The JBU kernels before the learned correction: non-negative, summing to 1.

        Args:
            guidance: ``(B, 3, H, W)`` normalised guidance at the output size.
        Returns:
            ``(B, H, W, K²)`` float, ``K = 2r+1``, taps in row-major (dy, dx) order.
        """
        range_term = torch.softmax(self.range_logits(guidance), dim=-1)
        kernel = range_term * self.spatial_weights()
        return kernel / kernel.sum(-1, keepdim=True).clamp_min(1e-7)

    def kernels(self, guidance: torch.Tensor) -> torch.Tensor:
        """The applied kernels, corrected: ``(B, H, W, K, K)`` contiguous (no longer
        guaranteed non-negative or to sum to 1)."""
        kernel = self.base_kernels(guidance)
        if self.correction is not None:
            kernel = kernel + self.correction(torch.cat([kernel, guidance.permute(0, 2, 3, 1)],
                                                        -1))
        batch, height, width = kernel.shape[:3]
        return kernel.reshape(batch, height, width, self.size, self.size).contiguous()

    def forward(self, source: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        """Upsample ×2.

        Args:
            source: ``(B, C, h, w)`` float32 (features, or depth channels), h, w >= 2.
            guidance: ``(B, 3, H, W)`` normalised guidance image, ``H >= 2h``, ``W >= 2w``;
                average-pooled to ``2h × 2w`` here (see :func:`pool_guidance`).
        Returns:
            ``(B, C, 2h, 2w)``, source's dtype.
        """
        height, width = 2 * source.shape[-2], 2 * source.shape[-1]
        guidance = pool_guidance(guidance, (height, width))
        upsampled = F.interpolate(source, scale_factor=2.0, mode="bicubic", align_corners=False)
        if exporting_decomposed():
            return self.forward_channels_first(upsampled, guidance)
        padded = _reflect_pad(upsampled, self.radius).contiguous()
        return adaptive_conv(padded, self.kernels(guidance).to(padded.dtype))

    def forward_channels_first(self, upsampled: torch.Tensor, guidance: torch.Tensor
                               ) -> torch.Tensor:
        """The stage after the bicubic ×2, in standard ops with the taps as channels.

        Args:
            upsampled: ``(B, C, H, W)`` bicubic ×2 of the source.
            guidance: ``(B, 3, H, W)`` normalised guidance at the output size.
        Returns:
            ``(B, C, H, W)``, equal to :meth:`forward`'s result (same kernels, same taps).
        """
        keys = self.range_proj(guidance)
        logits = self.temperature * torch.cat(
            [(keys * shifted).sum(1, keepdim=True) for shifted in _window(keys, self.radius)], 1)
        range_term = torch.exp(logits - logits.amax(1, keepdim=True))
        kernel = range_term * self.spatial_weights().view(1, -1, 1, 1)
        kernel = kernel / kernel.sum(1, keepdim=True).clamp_min(1e-7)
        if self.correction is not None:
            first, _, last = self.correction
            hidden = F.gelu(F.conv2d(torch.cat([kernel, guidance], 1),
                                     first.weight[..., None, None], first.bias))
            kernel = kernel + F.conv2d(hidden, last.weight[..., None, None], last.bias)
        kernel = kernel.to(upsampled.dtype)
        shifted = _window(upsampled, self.radius)
        out = kernel[:, :1] * shifted[0]
        for tap in range(1, len(shifted)):
            out = out + kernel[:, tap:tap + 1] * shifted[tap]
        return out


class JBUStack(nn.Module):
    """``num_stages`` JBU stages: ×2^num_stages upsampling.

    Args:
        num_stages: number of ×2 stages (2 → ×4, 3 → ×8, 4 → ×16).
        **stage_options: passed to every :class:`JBUStage` (radius, key_dim, ...).

    ``forward(source (B,C,h,w), image (B,3,H,W) RGB in [0,1])`` with ``H = h·2ⁿ``,
    ``W = w·2ⁿ`` → ``(B, C, H, W)``. The image is ImageNet-normalised here and stage ``i``
    reads it average-pooled to its output size.
    """

    def __init__(self, num_stages: int = 2, **stage_options: Any):
        super().__init__()
        if num_stages < 1:
            raise ValueError(f"a JBU stack needs at least one stage, got {num_stages}")
        self.stages = nn.ModuleList(JBUStage(**stage_options) for _ in range(num_stages))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    @property
    def scale(self) -> int:
        return 2 ** len(self.stages)

    def normalise(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] → ImageNet-normalised."""
        return (image - self.mean.to(image.dtype)) / self.std.to(image.dtype)

    def guidance_pyramid(self, image: torch.Tensor, num_stages: int | None = None
                         ) -> list[torch.Tensor]:
        """Normalised guidance of each stage, coarsest first: stage i of n gets the image
        pooled by ``2^(n-1-i)``. ``image``: ``(B, 3, H, W)`` RGB in [0, 1]."""
        count = len(self.stages) if num_stages is None else num_stages
        guidance = self.normalise(image)
        return [F.avg_pool2d(guidance, 2 ** (count - 1 - i)) if i < count - 1 else guidance
                for i in range(count)]

    def upsample(self, source: torch.Tensor, image: torch.Tensor,
                 stages: list[JBUStage] | None = None) -> torch.Tensor:
        """Run ``stages`` (default all of this stack's) on ``source`` guided by ``image``
        (``H = h·2^len(stages)``)."""
        stages = list(self.stages) if stages is None else stages
        _check_sizes(source, image, 2 ** len(stages))
        for stage, guidance in zip(stages, self.guidance_pyramid(image, len(stages))):
            source = stage(source, guidance)
        return source

    def forward(self, source: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.upsample(source, image)


def _check_sizes(source: torch.Tensor, image: torch.Tensor, scale: int) -> None:
    if torch.jit.is_tracing():
        return
    if source.dim() != 4 or image.dim() != 4 or image.shape[1] != 3 \
            or source.shape[0] != image.shape[0]:
        raise ValueError(f"need source (B, C, h, w) and image (B, 3, H, W) of one batch, got "
                         f"{tuple(source.shape)} and {tuple(image.shape)}")
    low = tuple(source.shape[-2:])
    if min(low) < 2:
        raise ValueError(f"the low-resolution input must be at least 2x2, got {low}")
    if tuple(image.shape[-2:]) != (low[0] * scale, low[1] * scale):
        raise ValueError(f"image is {image.shape[-2]}x{image.shape[-1]}, but a {low[0]}x{low[1]}"
                         f" source at x{scale} needs {low[0] * scale}x{low[1] * scale}")


# ----------------------------------------------------------------------------- depth variant

@dataclass(frozen=True)
class JBUConfig:
    """Architecture of :class:`DepthJBU`.

    Attributes:
        num_stages: ×2 stages (2 = ×4, the shipped model).
        radius: window radius (3 = 7×7).
        key_dim: guidance-projection channels.
        correction_hidden: hidden channels of the kernel correction (0 = none).
    """

    num_stages: int = 2
    radius: int = 3
    key_dim: int = 32
    correction_hidden: int = 32

    @classmethod
    def named(cls, name: str) -> JBUConfig:
        """``x4`` (the shipped depth model), ``x2``, ``x8``, or ``tiny`` (tests)."""
        configs = {"x2": cls(num_stages=1), "x4": cls(), "x8": cls(num_stages=3),
                   "tiny": cls(key_dim=8, correction_hidden=8)}
        if name not in configs:
            raise ValueError(f"unknown jbu config {name!r}; available: {', '.join(configs)}")
        return configs[name]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> JBUConfig:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"not a jbu model config: {fields!r} ({exc})") from None


class DepthJBU(nn.Module):
    """Metric depth ×2ⁿ upsampling guided by the image (the ``jbu`` model).

    ``forward(depth (B,1,h,w) float32 metres, 0 = invalid, image (B,3,H,W) RGB in [0,1])``
    with ``H = h·2ⁿ``, ``W = w·2ⁿ`` → ``(B, 1, H, W)`` metres:

    - the stack upsamples ``[depth·valid, valid]`` and the output is their ratio, a weighted
      average of valid samples only (invalid pixels never bleed in);
    - an output pixel is 0 (invalid) when the low-resolution pixel it lies in is invalid (or
      no valid sample reached it); elsewhere it is clamped to the image's range of valid input
      depths (bicubic lobes cannot overshoot it).
    """

    def __init__(self, config: JBUConfig | None = None):
        super().__init__()
        self.config = config or JBUConfig()
        self.stack = JBUStack(self.config.num_stages, radius=self.config.radius,
                              key_dim=self.config.key_dim,
                              correction_hidden=self.config.correction_hidden)

    @property
    def scale(self) -> int:
        return self.stack.scale

    def stages_for(self, num_stages: int) -> list[JBUStage]:
        """The stages that upsample ×2^num_stages: the trained ones, the first ``num_stages``
        of them when fewer are asked for, the last one repeated when more are."""
        if num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        stages = list(self.stack.stages)
        return stages[:num_stages] + [stages[-1]] * max(0, num_stages - len(stages))

    def upsample(self, depth: torch.Tensor, image: torch.Tensor,
                 num_stages: int | None = None) -> torch.Tensor:
        """``forward`` with ``num_stages`` ×2 steps (default: the model's own)."""
        count = len(self.stack.stages) if num_stages is None else num_stages
        if not torch.jit.is_tracing() and (depth.dim() != 4 or depth.shape[1] != 1):
            raise ValueError(f"depth must be (B, 1, h, w), got {tuple(depth.shape)}")
        valid = (depth > 0).to(depth.dtype)
        channels = torch.cat([depth * valid, valid], 1)
        numerator, weight = self.stack.upsample(channels, image, self.stages_for(count)).unbind(1)
        reached = weight > 1e-4
        ratio = numerator / torch.where(reached, weight, torch.ones_like(weight))
        flat = depth.flatten(1)
        valid_flat = flat > 0
        high = flat.amax(1).view(-1, 1, 1)
        low = torch.where(valid_flat, flat, torch.full_like(flat, float("inf"))).amin(1)
        low = torch.minimum(low, high.view(-1)).view(-1, 1, 1)
        ratio = torch.minimum(torch.maximum(ratio, low), high)
        cell_valid = F.interpolate(valid, scale_factor=float(2 ** count), mode="nearest")[:, 0]
        out = torch.where(reached & (cell_valid > 0), ratio, torch.zeros_like(ratio))
        return out.unsqueeze(1)

    def forward(self, depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.upsample(depth, image)


def area_downsample_depth(depth: np.ndarray | torch.Tensor, factor: int):
    """Invalid-aware area downsampling: each ``factor × factor`` block → the mean of its valid
    (> 0) pixels, 0 when it has none.

    Args:
        depth: ``(H, W)`` numpy or ``(B, 1, H, W)`` tensor, metres, 0 = invalid; H and W are
            cropped down to multiples of ``factor``.
        factor: integer ≥ 1.
    Returns:
        ``(H//factor, W//factor)`` float32 numpy, or ``(B, 1, H//factor, W//factor)`` tensor.
    """
    as_numpy = isinstance(depth, np.ndarray)
    tensor = torch.from_numpy(np.asarray(depth, np.float32))[None, None] if as_numpy else depth
    height = tensor.shape[-2] // factor * factor
    width = tensor.shape[-1] // factor * factor
    tensor = tensor[..., :height, :width]
    valid = (tensor > 0).to(tensor.dtype)
    total = F.avg_pool2d(tensor * valid, factor)
    count = F.avg_pool2d(valid, factor)
    out = torch.where(count > 0, total / count.clamp_min(1e-12), torch.zeros_like(total))
    return out[0, 0].numpy() if as_numpy else out


def resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize ``(B, 1, H, W)`` depth (0 = invalid) to ``size``: bilinear on
    ``[depth·valid, valid]`` renormalised, 0 where the nearest source pixel is invalid."""
    valid = (depth > 0).to(depth.dtype)
    both = F.interpolate(torch.cat([depth * valid, valid], 1), size=size, mode="bilinear",
                         align_corners=False)
    nearest = F.interpolate(valid, size=size, mode="nearest")
    ratio = both[:, :1] / both[:, 1:].clamp_min(1e-6)
    return torch.where((nearest > 0) & (both[:, 1:] > 1e-6), ratio, torch.zeros_like(ratio))
