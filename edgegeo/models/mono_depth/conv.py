"""The convolutional variant of ``mono-depth``: a compact ResNet-style encoder (BatchNorm,
strides to 1/32, a global-context term at 1/32) feeding a DPT-style decoder that fuses the
1/32, 1/16, 1/8 and 1/4 maps coarse-to-fine with residual conv units.

A convolutional encoder learns from a few thousand rendered frames on a CPU budget, where a ViT
trained from scratch does not get past "floor below, wall above" (edgegeo issue 17). DPT's own
"hybrid" variant puts a ResNet under its ViT for the same reason.

References:

* He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (basic blocks).
* Ranftl et al., "Vision Transformers for Dense Prediction", ICCV 2021 (the fusion decoder and
  head; the hybrid ResNet encoder).
* Liu et al., "ParseNet: Looking Wider to See Better", 2015 (global context by pooling).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.dpt import FusionBlock

STRIDE = 32
"""Input sides must be multiples of this (the coarsest map is 1/32 of the input)."""


@dataclass(frozen=True)
class ConvEncoderConfig:
    """Architecture of :class:`ConvEncoder`.

    Attributes:
        widths: channels of the stem (1/2) and of the four stages (1/4, 1/8, 1/16, 1/32).
        blocks: basic residual blocks per stage (the first one strides by 2).
    """

    widths: tuple[int, int, int, int, int] = (32, 48, 96, 160, 256)
    blocks: tuple[int, int, int, int] = (2, 2, 2, 2)

    def __post_init__(self):
        if len(self.widths) != 5 or min(self.widths) < 1 or len(self.blocks) != 4 \
                or min(self.blocks) < 1:
            raise ValueError(f"widths must be 5 and blocks 4 positive ints, got {self.widths}, "
                             f"{self.blocks}")

    @property
    def patch_size(self) -> int:
        """Input sides must be multiples of this (the stride of the coarsest map)."""
        return STRIDE

    @property
    def embed_dim(self) -> int:
        """Channels of the 1/32 map (the "tokens" feature alignment reads)."""
        return self.widths[-1]


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """``relu(x' + bn(conv(relu(bn(conv(x))))))``, ``x'`` = ``x`` or its 1×1 strided
    projection; ``(B, cin, h, w)`` → ``(B, cout, h/stride, w/stride)``."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout)
        self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                       nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.shortcut(x) + self.conv2(F.relu(self.conv1(x))))


class ConvEncoder(nn.Module):
    """``(B, 3, H, W)`` normalised image, sides multiples of 32 → four maps
    ``(B, widths[i+1], H/2^(i+2), W/2^(i+2))`` for i = 0..3 (1/4 … 1/32). The 1/32 map gets a
    global-context term: ``x + W₂ relu(W₁ mean_hw(x))`` broadcast over the map."""

    def __init__(self, config: ConvEncoderConfig):
        super().__init__()
        stem, *stages = config.widths
        self.stem = nn.Sequential(_conv_bn(3, stem, 2), nn.ReLU(inplace=True),
                                  _conv_bn(stem, stem), nn.ReLU(inplace=True))
        self.stages = nn.ModuleList()
        cin = stem
        for cout, count in zip(stages, config.blocks):
            self.stages.append(nn.Sequential(BasicBlock(cin, cout, 2),
                                             *(BasicBlock(cout, cout, 1) for _ in range(count - 1))))
            cin = cout
        self.context = nn.Sequential(nn.Conv2d(cin, cin // 4, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(cin // 4, cin, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        maps[-1] = maps[-1] + self.context(maps[-1].mean(dim=(2, 3), keepdim=True))
        return maps


class ConvDPTDecoder(nn.Module):
    """DPT-style fusion of four encoder maps (1/4 … 1/32) into a non-negative disparity map.

    Each map goes to ``features`` channels by a 3×3 conv; fusion runs coarse-to-fine with
    :class:`~edgegeo.models.layers.dpt.FusionBlock` (residual conv units, bilinear ×2, 1×1
    projection) and ends at 1/4 resolution; the head (3×3 conv → ReLU → 3×3 conv → ReLU → 1×1
    conv, at 1/4 resolution: half the decoder's cost would go to a head at 1/2) gives one
    channel, bilinearly upsampled to the input size and passed through a final ReLU
    (disparity ≥ 0, as Depth Anything's head).
    """

    def __init__(self, in_channels: tuple[int, ...], features: int, head_features: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, features, 3, padding=1, bias=False)
                                     for c in in_channels)
        self.fusions = nn.ModuleList(FusionBlock(features, with_skip=i < 3) for i in range(4))
        self.head = nn.Sequential(nn.Conv2d(features, features // 2, 3, padding=1),
                                  nn.ReLU(inplace=True),
                                  nn.Conv2d(features // 2, head_features, 3, padding=1),
                                  nn.ReLU(inplace=True), nn.Conv2d(head_features, 1, 1))
        nn.init.constant_(self.head[-1].bias, 1.0)   # start inside the final ReLU's active side

    def forward(self, maps: list[torch.Tensor], out_size: tuple[int, int]) -> torch.Tensor:
        """``maps``: four ``(B, C_i, h_i, w_i)`` finest first → ``(B, 1, *out_size)``."""
        lateral = [conv(m) for conv, m in zip(self.lateral, maps)]
        sizes = [lateral[0].shape[-2:]] + [m.shape[-2:] for m in lateral[:3]]
        path = self.fusions[3](lateral[3], None, sizes[3])
        for level in (2, 1, 0):
            path = self.fusions[level](path, lateral[level], sizes[level])
        disparity = F.interpolate(self.head(path), size=out_size, mode="bilinear",
                                  align_corners=False)
        return F.relu(disparity)
