"""``stereo``: an edge stereo network built around explicit cost volumes, coarse to fine.

Upstream designs this follows (our own implementation):

- StereoNet (Khamis et al., ECCV 2018): Siamese CNN features, a cost volume at low resolution,
  soft-argmin, then image-guided hierarchical refinement.
- AnyNet (Wang et al., ICRA 2019) and NVIDIA's ESS: a full-range volume only at the coarsest
  level, then *warped* local volumes over a small residual range at finer levels.
- GwcNet (Guo et al., CVPR 2019): group-wise correlation (one correlation per channel group).
- HITNet (Tankovich et al., CVPR 2021) and PatchMatch (Bleyer et al., BMVC 2011): propagation
  — each pixel also scores the disparities of its neighbours instead of only interpolating
  them (``propagate``).
- FeatUp (Fu et al., ICLR 2024): the learned joint bilateral upsampler (``JBUStage`` on the
  ``adaptive_conv`` op) that takes the disparity from ½ to full resolution, guided by the left
  image.

Data flow for ``left, right (B, 3, H, W)`` float32 RGB in [0, 1], ``H, W`` multiples of
:data:`SIZE_MULTIPLE` (the predictor pads):

1. One feature pyramid for both views (shared weights, BatchNorm): ``f8`` at ⅛, and ``f4``,
   ``f2`` at ¼ and ½ with the coarser levels fed back top-down (FPN).
2. Coarse volume at ⅛: for ``D = max_disparity / 8`` integer shifts, the cosine similarity of
   the left and the shifted right feature within each of ``groups`` channel groups, written as
   ``D`` slices, products and channel means (standard ONNX ops, TensorRT-friendly).
3. Aggregation: a 2-D hourglass over [volume as ``G·D`` channels, left features] → ``D``
   logits; softmax → soft-argmin disparity (⅛ px) and the probability volume (supervised).
4. Optionally (``propagate``, the candidate-propagation design) the estimate a finer level
   starts from is *chosen* rather than interpolated: each pixel's candidates are the bilinear
   ×2 disparity and the disparities of the 3×3 coarser cells around its own; one cosine
   between the left feature and the right feature each candidate points at, a small CNN →
   candidate logits, and the softmax-weighted candidate is the start (supervised: the
   candidate nearest the GT). Bilinear interpolation blends foreground and background across
   a depth edge; selection can keep either side's value.
5. Local refinement at ¼ and ½: the disparity from the level below, ×2, samples the right
   features at ``x − d − r`` for ``r ∈ [−R, R]`` (linear along the row: row ``Gather`` s
   of channels-last features);
   a small CNN reads the ``2R+1`` cosines with the left features and outputs offset logits:
   ``d ← d + Σ_r r·softmax(logits)_r``. The ½ level also outputs the confidence channel.
6. Full resolution: the ½ disparity ×2 through a learned JBU stage guided by the left image
   (``final="jbu"``), or bilinear ×2 plus a residual CNN on [disparity, image]
   (``final="residual"``, the ablation).
7. Optionally (``fine_channels > 0``, the ``fine`` ablation) a last warped local volume at full
   resolution, on features of the full-resolution image merged with the ½ features:
   ``±fine_radius`` px around the upsampled estimate. Its output layer starts at zero, so the
   stage begins as the identity and can be added to trained weights (a warm start). Measured:
   it doubles the forward time and learned nothing in 1 350 steps (the stereo benchmark notes).

Output ``(B, 2, H, W)``: disparity in pixels of the left input (≥ 0 up to ``max_disparity``)
and a bounded log-scale ``c`` ∈ (−3, 3) (confidence ``exp(−c)``, larger = surer).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..jbu import JBUStage

SIZE_MULTIPLE = 32
"""Input sides must be multiples of this (⅛ resolution, then two ×2 downsamplings)."""
CONFIDENCE_BOUND = 3.0
FINAL_STAGES = ("jbu", "residual")
IMAGE_MEAN = 0.45
IMAGE_STD = 0.225


@dataclass(frozen=True)
class StereoConfig:
    """Architecture of :class:`CostVolumeStereo`.

    Attributes:
        max_disparity: disparities the coarse volume covers, pixels of the input (a multiple
            of 8): ``max_disparity / 8`` shifts at ⅛ resolution.
        channels: feature channels at ½, ¼ and ⅛ resolution.
        groups: channel groups of the coarse correlation (one cosine per group and shift).
        hourglass: channels of the coarse aggregation at ⅛, 1/16 and 1/32.
        refine_radius: ``R`` of the local volumes at ¼ and ½ (``2R+1`` offsets, level px).
        refine_channels: hidden channels of the refinement CNNs at ¼ and ½.
        final: ``"jbu"`` (learned joint bilateral ×2) or ``"residual"`` (bilinear ×2 +
            residual CNN) for the last ×2.
        jbu_radius: window radius of that JBU stage (full-resolution px; its parameters do
            not depend on it, so trained weights run at any radius). The stage is about half
            of the network's ONNX Runtime time at radius 2 (25 taps at full resolution).
        fine_channels: 0 (no full-resolution stage), or the feature channels of the
            full-resolution local refinement (step 7).
        fine_radius: ``R`` of that stage's local volume (full-resolution px).
        propagate: choose each finer level's starting disparity among the coarser
            neighbours' (step 4) instead of bilinear ×2 alone.
        croco_channels: 0, or the channels of the CroCo ViT encoder's ⅛-resolution tokens
            (``CroCoConfig.small``, patch 8) projected and appended to the ⅛ features — the
            CroCo-initialisation experiment (its weights from ``croco``, or random).
    """

    max_disparity: int = 192
    channels: tuple[int, int, int] = (16, 32, 48)
    groups: int = 4
    hourglass: tuple[int, int, int] = (48, 64, 96)
    refine_radius: tuple[int, int] = (4, 2)
    refine_channels: tuple[int, int] = (32, 16)
    final: str = "jbu"
    jbu_radius: int = 2
    fine_channels: int = 0
    fine_radius: int = 2
    propagate: bool = False
    croco_channels: int = 0

    def __post_init__(self):
        if self.max_disparity < 16 or self.max_disparity % 8:
            raise ValueError(f"max_disparity must be a multiple of 8 and >= 16, got "
                             f"{self.max_disparity}")
        if len(self.channels) != 3 or min(self.channels) < 1 \
                or (self.channels[2] + self.croco_channels) % self.groups:
            raise ValueError(f"channels must be 3 positive counts, the last divisible by "
                             f"groups={self.groups}, got {self.channels}")
        if self.final not in FINAL_STAGES:
            raise ValueError(f"final must be one of {FINAL_STAGES}, got {self.final!r}")
        if min(self.refine_radius) < 1 or self.fine_radius < 1 or self.jbu_radius < 1:
            raise ValueError(f"refine_radius, fine_radius and jbu_radius must be >= 1, got "
                             f"{self.refine_radius}, {self.fine_radius}, {self.jbu_radius}")
        if self.fine_channels < 0:
            raise ValueError(f"fine_channels must be >= 0, got {self.fine_channels}")

    @property
    def coarse_levels(self) -> int:
        """Shifts of the ⅛-resolution volume."""
        return self.max_disparity // 8

    @classmethod
    def named(cls, name: str) -> StereoConfig:
        """``small`` (the shipped edge model), ``propagate`` (``small`` plus candidate
        propagation at ¼ and ½), ``fine`` (``small`` plus the full-resolution
        local refinement, ablation), ``residual`` (bilinear + residual-CNN last ×2,
        ablation), ``croco`` (with CroCo encoder features) or ``tiny`` (tests, smoke runs)."""
        if name == "small":
            return cls()
        if name == "propagate":
            return cls(propagate=True)
        if name == "fine":
            return cls(fine_channels=8)
        if name == "residual":
            return cls(final="residual")
        if name == "croco":
            return cls(croco_channels=48)
        if name == "tiny":
            return cls(max_disparity=32, channels=(8, 8, 8), groups=2, hourglass=(8, 8, 8),
                       refine_radius=(2, 1), refine_channels=(8, 8), fine_channels=4,
                       fine_radius=1, propagate=True)
        raise ValueError(f"unknown stereo config {name!r}; use 'small', 'propagate', 'fine', "
                         "'residual', 'croco' or 'tiny'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> StereoConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(fields) - known
        if unknown:
            raise ValueError(f"unknown stereo config fields {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


def bounded_log_scale(raw: torch.Tensor) -> torch.Tensor:
    """Raw head output → log-scale ``c`` ∈ (−3, 3) (confidence ``exp(−c)``)."""
    return 2 * CONFIDENCE_BOUND * (torch.sigmoid(raw / CONFIDENCE_BOUND) - 0.5)


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1, act: bool = True,
            kernel: int = 3) -> nn.Sequential:
    """``kernel``×``kernel`` convolution (no bias), BatchNorm, LeakyReLU(0.1)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride,
                                         padding=dilation * (kernel // 2), dilation=dilation,
                                         bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.LeakyReLU(0.1))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Two 3×3 ``conv_bn`` with an identity shortcut."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels, dilation=dilation),
                                  conv_bn(channels, channels, dilation=dilation, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.1)


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear ×2 (half-pixel centres)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class FeaturePyramid(nn.Module):
    """Shared features of one view: ``(B, 3, H, W)`` normalised image → ``f2 (B, c2, H/2,
    W/2)``, ``f4 (B, c4, H/4, W/4)``, ``f8 (B, c8, H/8, W/8)`` (finer levels see the coarser
    ones top-down)."""

    def __init__(self, channels: tuple[int, int, int]):
        super().__init__()
        c2, c4, c8 = channels
        self.stem = nn.Sequential(conv_bn(3, c2, stride=2), conv_bn(c2, c2))
        self.down4 = nn.Sequential(conv_bn(c2, c4, stride=2), ResidualBlock(c4))
        self.down8 = nn.Sequential(conv_bn(c4, c8, stride=2), ResidualBlock(c8),
                                   ResidualBlock(c8, dilation=2))
        self.merge4 = conv_bn(c8 + c4, c4, kernel=1)
        self.merge2 = conv_bn(c4 + c2, c2, kernel=1)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x2 = self.stem(image)
        x4 = self.down4(x2)
        f8 = self.down8(x4)
        f4 = self.merge4(torch.cat([upsample2(f8), x4], 1))
        f2 = self.merge2(torch.cat([upsample2(f4), x2], 1))
        return f2, f4, f8


def group_cosine_volume(left: torch.Tensor, right: torch.Tensor, levels: int, groups: int
                        ) -> torch.Tensor:
    """Full-range correlation volume.

    Args:
        left, right: ``(B, C, h, w)`` features of the two views, ``C`` divisible by ``groups``.
        levels: shifts ``d = 0 … levels−1`` (pixels of this level).
        groups: channel groups.
    Returns:
        ``(B, groups·levels, h, w)``, channel ``d·groups + g``: the cosine similarity of group
        ``g`` of ``left(x)`` and ``right(x − d)`` (0 where ``x − d`` falls off the image).
    """
    batch, channels, height, width = left.shape
    per_group = channels // groups
    left = F.normalize(left.reshape(batch, groups, per_group, height, width), dim=2)
    right = F.normalize(right.reshape(batch, groups, per_group, height, width), dim=2)
    slices = [(left * right).sum(2)]
    for shift in range(1, levels):
        shifted = F.pad(right, (shift, 0))[..., :width]   # any shift, also >= width
        slices.append((left * shifted).sum(2))
    return torch.cat(slices, 1)


def row_correlation(left: torch.Tensor, right: torch.Tensor, disparities: list[torch.Tensor]
                    ) -> torch.Tensor:
    """Cosine similarity of each left pixel's feature with the right feature ``d`` columns to
    its left on the same row (``x − d``), the right feature linearly interpolated between
    columns.

    Args:
        left, right: ``(B, C, h, w)`` features (normalised here).
        disparities: ``K`` maps ``(B, 1, h, w)``, disparities ``d`` in pixels of this level;
            taps left or right of the map contribute 0.
    Returns:
        ``(B, K, h, w)``.

    Both views are laid out channels-last once, as ``(B·h·w, C)`` rows (the right one with a
    zero column added at each side, where out-of-range taps are clamped to), and each tap
    gathers whole rows (ONNX ``Gather`` on axis 0 with one index per pixel): no per-channel
    index tensor and no masks.
    """
    batch, channels, height, width = left.shape
    left_rows = F.normalize(left, dim=1).permute(0, 2, 3, 1).reshape(-1, channels)
    # one zero column each side: taps outside the map are clamped onto them (no masks)
    right_rows = F.pad(F.normalize(right, dim=1), (1, 1)).permute(0, 2, 3, 1)
    right_rows = right_rows.reshape(-1, channels)
    rows = torch.arange(batch * height, device=left.device).view(batch, 1, height, 1)
    row_start = (rows * (width + 2) + 1).expand(-1, -1, -1, width).reshape(-1)
    columns = torch.arange(width, dtype=left.dtype, device=left.device).view(1, 1, 1, width)
    costs = []
    for disparity in disparities:
        x = columns - disparity
        x0 = torch.floor(x)
        weight1 = (x - x0).reshape(-1, 1)
        cost = None
        for tap, weight in ((x0, 1 - weight1), (x0 + 1, weight1)):
            index = row_start + tap.reshape(-1).clamp(-1, width).long()
            sampled = right_rows.index_select(0, index) * weight
            cost = sampled if cost is None else cost + sampled
        costs.append((left_rows * cost).sum(1).view(batch, 1, height, width))
    return torch.cat(costs, 1)


class CoarseAggregation(nn.Module):
    """2-D hourglass over [volume channels, left features] at ⅛ → ``levels`` logits."""

    def __init__(self, volume_channels: int, feature_channels: int, levels: int,
                 widths: tuple[int, int, int]):
        super().__init__()
        w8, w16, w32 = widths
        self.enter = nn.Sequential(conv_bn(volume_channels + feature_channels, w8),
                                   ResidualBlock(w8))
        self.down16 = nn.Sequential(conv_bn(w8, w16, stride=2), ResidualBlock(w16))
        self.down32 = nn.Sequential(conv_bn(w16, w32, stride=2), ResidualBlock(w32))
        self.up16 = conv_bn(w32 + w16, w16)
        self.up8 = conv_bn(w16 + w8, w8)
        self.logits = nn.Conv2d(w8, levels, 3, padding=1)

    def forward(self, volume: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        x8 = self.enter(torch.cat([volume, features], 1))
        x16 = self.down16(x8)
        x32 = self.down32(x16)
        x16 = self.up16(torch.cat([upsample2(x32), x16], 1))
        x8 = self.up8(torch.cat([upsample2(x16), x8], 1))
        return self.logits(x8)


class LocalRefinement(nn.Module):
    """Residual disparity from a warped local cost volume (one pyramid level).

    ``forward(left, right, disparity)`` with features ``(B, C, h, w)`` and the disparity
    estimate ``(B, 1, h, w)`` in pixels of this level → refined disparity ``(B, 1, h, w)``,
    ``extra`` outputs ``(B, extra, h, w)`` and the offset logits ``(B, 2R+1, h, w)`` (tap
    ``k`` stands for the disparity ``estimate + k − R``; supervised in training).
    """

    def __init__(self, channels: int, radius: int, hidden: int, dilations: tuple[int, ...],
                 extra: int = 0):
        super().__init__()
        self.radius, self.extra = radius, extra
        taps = 2 * radius + 1
        self.net = nn.Sequential(conv_bn(taps + channels, hidden),
                                 *(conv_bn(hidden, hidden, dilation=d) for d in dilations),
                                 nn.Conv2d(hidden, taps + extra, 3, padding=1))
        self.register_buffer("offsets", torch.arange(-radius, radius + 1,
                                                     dtype=torch.float32).view(1, taps, 1, 1),
                             persistent=False)

    def forward(self, left: torch.Tensor, right: torch.Tensor, disparity: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        costs = row_correlation(left, right, [disparity + offset for offset in
                                              range(-self.radius, self.radius + 1)])
        out = self.net(torch.cat([costs, left], 1))
        taps = 2 * self.radius + 1
        weights = torch.softmax(out[:, :taps], 1)
        refined = disparity + (weights * self.offsets.to(out.dtype)).sum(1, keepdim=True)
        return refined, out[:, taps:], out[:, :taps]


def neighbour_candidates(coarse: torch.Tensor) -> torch.Tensor:
    """Disparities a finer level may start from.

    Args:
        coarse: ``(B, 1, h, w)`` disparity, pixels of its level.
    Returns:
        ``(B, 10, 2h, 2w)`` in pixels of the ×2 level: channel 0 the bilinear ×2, channels
        1–9 the values of the 3×3 coarse cells around each pixel's own (row-major offsets
        ``(−1, −1) … (1, 1)``; edge cells repeat at the border), ×2.
    """
    padded = torch.cat([coarse[..., :1], coarse, coarse[..., -1:]], 3)
    padded = torch.cat([padded[..., :1, :], padded, padded[..., -1:, :]], 2)
    height, width = coarse.shape[-2:]
    shifted = [padded[..., dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    nearest = F.interpolate(torch.cat(shifted, 1), scale_factor=2.0, mode="nearest")
    return 2 * torch.cat([upsample2(coarse), nearest], 1)


class CandidateSelection(nn.Module):
    """Propagation: the starting disparity of a level chosen among its coarser neighbours'.

    ``forward(left, right, coarse)`` with features ``(B, C, h, w)`` of this level and the
    coarser level's disparity ``(B, 1, h/2, w/2)`` (its pixels) → the start ``(B, 1, h, w)``
    (pixels of this level), the candidate logits ``(B, K, h, w)`` and the candidates
    ``(B, K, h, w)`` (:func:`neighbour_candidates`; supervised in training). The output layer
    starts at zero with the bilinear candidate favoured, so the stage begins close to the
    bilinear ×2 and can be added to trained weights (a warm start).
    """

    candidates = 10
    bilinear_bias = 2.0

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        count = self.candidates
        self.net = nn.Sequential(conv_bn(2 * count + channels, hidden),
                                 conv_bn(hidden, hidden, dilation=2),
                                 nn.Conv2d(hidden, count, 3, padding=1))
        output = self.net[-1]
        nn.init.zeros_(output.weight)
        with torch.no_grad():
            output.bias.zero_()
            output.bias[0] = self.bilinear_bias

    def forward(self, left: torch.Tensor, right: torch.Tensor, coarse: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        candidates = neighbour_candidates(coarse.detach())
        costs = row_correlation(left, right, list(candidates.split(1, 1)))
        spread = (candidates - candidates[:, :1]) / 4.0
        logits = self.net(torch.cat([costs, spread, left], 1))
        start = (torch.softmax(logits, 1) * candidates).sum(1, keepdim=True)
        return start, logits, candidates


class FineFeatures(nn.Module):
    """Full-resolution matching features: two ``conv_bn`` on the normalised image ``(B, 3, H,
    W)``, merged (1×1) with the bilinearly upsampled ``f2 (B, c2, H/2, W/2)`` → ``(B, c1, H,
    W)``."""

    def __init__(self, c2: int, c1: int):
        super().__init__()
        self.image = nn.Sequential(conv_bn(3, c1), conv_bn(c1, c1))
        self.merge = conv_bn(c1 + c2, c1, kernel=1)

    def forward(self, images: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([self.image(images), upsample2(f2)], 1))


class ResidualUpsampler(nn.Module):
    """Bilinear ×2 of the disparity plus a residual CNN on [disparity / 32, image]."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(conv_bn(4, hidden), conv_bn(hidden, hidden, dilation=2),
                                 conv_bn(hidden, hidden), nn.Conv2d(hidden, 1, 3, padding=1))

    def forward(self, disparity: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        up = 2 * upsample2(disparity)
        return up + self.net(torch.cat([up / 32.0, image], 1))


class CostVolumeStereo(nn.Module):
    """The ``stereo`` network (see the module docstring).

    ``forward(left, right)``: ``(B, 3, H, W)`` float32 RGB in [0, 1] each, ``H, W`` multiples
    of :data:`SIZE_MULTIPLE` → ``(B, 2, H, W)``: disparity (pixels of the left image) and the
    bounded log-scale ``c``. ``forward(left, right, intermediates=True)`` returns a dict with
    the coarse ``logits8 (B, D, H/8, W/8)`` and the disparities ``d8``, ``d4``, ``d2`` (pixels
    of their level; with the full-resolution stage also ``d1``, its input), the local
    volumes' inputs ``base4``, ``base2`` and offset logits ``logits4``, ``logits2`` (with
    ``propagate`` also ``select_logits4``/``2`` and ``candidates4``/``2``) besides
    ``disparity`` and ``log_scale`` (training).
    """

    size_multiple = SIZE_MULTIPLE

    def __init__(self, config: StereoConfig | None = None):
        super().__init__()
        self.config = config = config or StereoConfig()
        c2, c4, c8 = config.channels
        self.features = FeaturePyramid(config.channels)
        if config.croco_channels:
            from ..croco import CroCoBackbone, CroCoConfig

            self.croco = CroCoBackbone(CroCoConfig.small())
            self.croco_project = conv_bn(CroCoConfig.small().enc_dim, config.croco_channels,
                                         kernel=1)
        self.aggregate = CoarseAggregation(config.groups * config.coarse_levels,
                                           c8 + config.croco_channels, config.coarse_levels,
                                           config.hourglass)
        if config.propagate:
            self.select4 = CandidateSelection(c4, config.refine_channels[0])
            self.select2 = CandidateSelection(c2, config.refine_channels[1])
        self.refine4 = LocalRefinement(c4, config.refine_radius[0], config.refine_channels[0],
                                       dilations=(2, 4, 1))
        self.refine2 = LocalRefinement(c2, config.refine_radius[1], config.refine_channels[1],
                                       dilations=(2,), extra=1)
        if config.final == "jbu":
            self.upsample = JBUStage(radius=config.jbu_radius, key_dim=8, correction_hidden=0)
        else:
            self.upsample = ResidualUpsampler()
        if config.fine_channels:
            self.fine = FineFeatures(c2, config.fine_channels)
            self.refine1 = LocalRefinement(config.fine_channels, config.fine_radius,
                                           2 * config.fine_channels, dilations=(2,))
            output = self.refine1.net[-1]
            nn.init.zeros_(output.weight)
            nn.init.zeros_(output.bias)
        self.register_buffer("levels", torch.arange(config.coarse_levels,
                                                    dtype=torch.float32).view(1, -1, 1, 1),
                             persistent=False)

    @property
    def max_disparity(self) -> int:
        return self.config.max_disparity

    def forward(self, left: torch.Tensor, right: torch.Tensor, intermediates: bool = False):
        if not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
            _check_inputs(left, right)
        batch = left.shape[0]
        images = (torch.cat([left, right]) - IMAGE_MEAN) / IMAGE_STD
        f2, f4, f8 = self.features(images)
        if self.config.croco_channels:
            tokens, _ = self.croco.encode(torch.cat([left, right]))
            grid = tokens.transpose(1, 2).reshape(2 * batch, -1, *f8.shape[-2:])
            f8 = torch.cat([f8, self.croco_project(grid)], 1)
        volume = group_cosine_volume(f8[:batch], f8[batch:], self.config.coarse_levels,
                                     self.config.groups)
        logits8 = self.aggregate(volume, f8[:batch])
        d8 = (torch.softmax(logits8, 1) * self.levels.to(logits8.dtype)).sum(1, keepdim=True)
        local: dict[str, torch.Tensor] = {}
        if self.config.propagate:
            base4, local["select_logits4"], local["candidates4"] = self.select4(
                f4[:batch], f4[batch:], d8)
        else:
            base4 = 2 * upsample2(d8).detach()
        d4, _, logits4 = self.refine4(f4[:batch], f4[batch:], base4)
        if self.config.propagate:
            base2, local["select_logits2"], local["candidates2"] = self.select2(
                f2[:batch], f2[batch:], d4)
        else:
            base2 = 2 * upsample2(d4).detach()
        d2, extra, logits2 = self.refine2(f2[:batch], f2[batch:], base2)
        if self.config.final == "jbu":
            disparity = self.upsample(2 * d2, images[:batch])
        else:
            disparity = self.upsample(d2, images[:batch])
        levels = {"d8": d8, "d4": d4, "d2": d2}
        local.update(base4=base4, logits4=logits4, base2=base2, logits2=logits2)
        if self.config.fine_channels:
            levels["d1"] = disparity
            fine = self.fine(images, f2)
            disparity, _, _ = self.refine1(fine[:batch], fine[batch:], disparity.detach())
        log_scale = bounded_log_scale(upsample2(extra))
        if intermediates:
            return {"logits8": logits8, **levels, **local, "disparity": disparity,
                    "log_scale": log_scale}
        return torch.cat([disparity.clamp_min(0.0), log_scale], 1)


def _check_inputs(left: torch.Tensor, right: torch.Tensor) -> None:
    if left.dim() != 4 or left.shape[1] != 3 or left.shape != right.shape:
        raise ValueError(f"stereo needs left and right (B, 3, H, W) of one shape, got "
                         f"{tuple(left.shape)} and {tuple(right.shape)}")
    height, width = left.shape[-2:]
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(f"stereo input sides must be multiples of {SIZE_MULTIPLE}, got "
                         f"{height}x{width} (StereoPredictor pads any size)")
