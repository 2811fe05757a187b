"""The two CNN encoders of SimpleRecon (Sayed et al., ECCV 2022), sized for the edge.

* :class:`MatchingEncoder` — per view, 16-channel features at 1/4 resolution (optionally also
  at 1/2): what the plane sweep warps and compares (shared by the reference and every source).
* :class:`ImageEncoder` — reference view only, features at 1/2, 1/4, 1/8, 1/16 and 1/32: the
  monocular "image prior" that enters the cost-volume encoder at every scale and the decoder.

Both take ``(B, 3, H, W)`` float RGB in [0, 1]; ImageNet normalisation is inside.
Plain 3×3 convolutions with BatchNorm (folded into the convolutions by deployment engines)
and ReLU, in residual blocks.

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import IMAGENET_MEAN, IMAGENET_STD


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1,
                 kernel_size: int = 3) -> nn.Sequential:
    """``kernel_size`` convolution (same padding, no bias) → BatchNorm → ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                  padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Two 3×3 conv-BN layers with a skip connection (1×1 conv-BN when the width or stride
    changes), ReLU after the sum. ``(B, C_in, H, W)`` → ``(B, C_out, H/stride, W/stride)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, out_channels, stride)
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))
        self.skip = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.skip = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.skip(x))


class Normalize(nn.Module):
    """RGB in [0, 1] → ImageNet-normalised."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std


class MatchingEncoder(nn.Module):
    """Matching features: ``(B, 3, H, W)`` RGB in [0, 1] → ``(B, channels, H/4, W/4)``, and
    ``(B, fine_channels, H/2, W/2)`` and ``(B, full_channels, H, W)`` (each or None).

    stem 3×3/2 → residual block → residual block /2 → residual block → 1×1 projection (no
    activation, so dot products can be negative). Receptive field 31 px.

    With ``fine_channels > 0`` it also outputs ½-resolution features: the ½
    activations after the first residual block, concatenated with the ¼ features upsampled
    (top-down, as a feature pyramid network), through a 3×3 conv-BN-ReLU and a 1×1
    projection — the features of the ½-resolution local depth volume.

    With ``context_channels > 0`` a ⅛-resolution context stage (residual block /2 → residual
    block → 1×1 conv back to ``width``, upsampled ×2 and added to the ¼ activations before the
    projection, as a feature pyramid's top-down path) widens the receptive field to ~95 px, so
    that texture-poor regions can be matched by their surroundings. Its last conv starts at
    zero: added to trained weights, the encoder starts as it was.

    With ``full_channels > 0`` (needs ``fine_channels``) it also outputs full-resolution
    features: the normalised image concatenated with the ½ features upsampled, through a 3×3
    conv-BN-ReLU and a 1×1 projection — the features of the full-resolution local volume.
    """

    def __init__(self, channels: int = 16, width: int = 32, fine_channels: int = 0,
                 context_channels: int = 0, full_channels: int = 0):
        super().__init__()
        self.normalize = Normalize()
        half = max(8, width // 2)
        self.layers = nn.Sequential(
            conv_bn_relu(3, half, stride=2),
            ResidualBlock(half, half),
            ResidualBlock(half, width, stride=2),
            ResidualBlock(width, width),
            nn.Conv2d(width, channels, 1))
        self.out_channels = channels
        self.fine_channels = fine_channels
        self.fine = (nn.Sequential(conv_bn_relu(half + channels, 2 * fine_channels),
                                   nn.Conv2d(2 * fine_channels, fine_channels, 1))
                     if fine_channels else None)
        if full_channels and not fine_channels:
            raise ValueError("full-resolution matching features need fine_channels")
        self.full = (nn.Sequential(conv_bn_relu(3 + fine_channels, full_channels),
                                   nn.Conv2d(full_channels, full_channels, 1))
                     if full_channels else None)
        self.context = None
        if context_channels:
            self.context = nn.Sequential(ResidualBlock(width, context_channels, stride=2),
                                         ResidualBlock(context_channels, context_channels),
                                         nn.Conv2d(context_channels, width, 1))
            nn.init.zeros_(self.context[-1].weight)
            nn.init.zeros_(self.context[-1].bias)

    def forward(self, image: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """``(B, 3, H, W)`` → ¼ features ``(B, channels, H/4, W/4)``, ½ features
        ``(B, fine_channels, H/2, W/2)`` (None without ``fine_channels``) and full-resolution
        features ``(B, full_channels, H, W)`` (None without ``full_channels``)."""
        x = self.normalize(image)
        half = self.layers[1](self.layers[0](x))
        quarter = self.layers[3](self.layers[2](half))
        if self.context is not None:
            quarter = quarter + F.interpolate(self.context(quarter), size=quarter.shape[-2:],
                                              mode="bilinear", align_corners=False)
        quarter = self.layers[4](quarter)
        if self.fine is None:
            return quarter, None, None
        up = F.interpolate(quarter, scale_factor=2.0, mode="bilinear", align_corners=False)
        fine = self.fine(torch.cat([half, up], dim=1))
        if self.full is None:
            return quarter, fine, None
        up = F.interpolate(fine, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return quarter, fine, self.full(torch.cat([x, up], dim=1))


class ImageEncoder(nn.Module):
    """Reference-image features at five scales: ``(B, 3, H, W)`` RGB in [0, 1] → list of
    ``(B, channels[i], H / 2^(i+1), W / 2^(i+1))`` for i = 0…4 (1/2 … 1/32)."""

    def __init__(self, channels: tuple[int, int, int, int, int] = (16, 24, 40, 64, 96)):
        super().__init__()
        self.normalize = Normalize()
        stages, previous = [], 3
        for index, width in enumerate(channels):
            if index == 0:
                stages.append(nn.Sequential(conv_bn_relu(previous, width, stride=2),
                                            ResidualBlock(width, width)))
            else:
                stages.append(nn.Sequential(ResidualBlock(previous, width, stride=2),
                                            ResidualBlock(width, width)))
            previous = width
        self.stages = nn.ModuleList(stages)
        self.out_channels = tuple(channels)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        features, x = [], self.normalize(image)
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features
