"""The 2-D encoder-decoder that turns the cost volume into depth (no 3-D convolutions).

* :class:`CostVolumeEncoder` — U-Net encoder over the ``(B, D, H/4, W/4)`` cost volume; the
  reference image-encoder features are concatenated in at every scale (1/4 … 1/32).
* :class:`DepthDecoder` — U-Net decoder with skips from the cost-volume encoder (1/16, 1/8,
  1/4) and the image encoder (1/2), nearest ×2 upsampling, a depth head at 1/8, 1/4, 1/2, 1/1.
* :class:`MVSDepthNetwork` — image encoder + both: ``(image, cost_volume) → 4 depth maps``; the
  part of the model that exports to ONNX with dynamic H/W.

**Output parameterisation.** Each head is a 3×3 conv → sigmoid ``σ`` mapped to log depth:
``ln z = ln z_min + σ · (ln z_max − ln z_min)``. Log depth because (i) the depth planes are
log-spaced, so a plane index is an affine function of ``ln z`` and the network regresses
something linear in what the cost volume indexes; (ii) the main loss is L1 on ``ln z``, whose
gradient w.r.t. ``σ`` is then the same at every depth (with a sigmoid over inverse depth the far
range of an 8 m room is squashed into a few percent of the output range); (iii) the sigmoid
keeps every prediction strictly inside ``[z_min, z_max]`` — positive, finite, and never beyond
the range the sweep can observe.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .features import ImageEncoder, ResidualBlock, conv_bn_relu


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class CostVolumeEncoder(nn.Module):
    """``(cost_volume (B, D, H/4, W/4), image_feats)`` → 4 maps at 1/4, 1/8, 1/16, 1/32 with
    ``cv_channels`` channels; ``image_feats`` are the :class:`ImageEncoder` outputs (1/2 … 1/32;
    the 1/4 … 1/32 ones are concatenated in)."""

    def __init__(self, num_planes: int, image_channels: tuple[int, ...],
                 cv_channels: tuple[int, ...]):
        super().__init__()
        self.first = nn.Sequential(conv_bn_relu(num_planes + image_channels[1], cv_channels[0]),
                                   ResidualBlock(cv_channels[0], cv_channels[0]))
        self.down = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for level in range(1, 4):
            self.down.append(ResidualBlock(cv_channels[level - 1], cv_channels[level], stride=2))
            self.fuse.append(nn.Sequential(
                conv_bn_relu(cv_channels[level] + image_channels[level + 1], cv_channels[level]),
                ResidualBlock(cv_channels[level], cv_channels[level])))

    def forward(self, cost_volume: torch.Tensor, image_feats: list[torch.Tensor]
                ) -> list[torch.Tensor]:
        x = self.first(torch.cat([cost_volume, image_feats[1]], dim=1))
        outputs = [x]
        for level, (down, fuse) in enumerate(zip(self.down, self.fuse), start=1):
            x = fuse(torch.cat([down(x), image_feats[level + 1]], dim=1))
            outputs.append(x)
        return outputs


class DepthDecoder(nn.Module):
    """U-Net decoder: cost-volume encoder maps (1/4 … 1/32) + the 1/2 image feature → log depth
    at 1/1, 1/2, 1/4, 1/8 (in that order), each in ``[ln min_depth, ln max_depth]``."""

    def __init__(self, cv_channels: tuple[int, ...], image_channels: tuple[int, ...],
                 decoder_channels: tuple[int, ...], min_depth: float, max_depth: float):
        super().__init__()
        skips = (cv_channels[2], cv_channels[1], cv_channels[0], image_channels[0], 0)
        stages, previous = [], cv_channels[3]
        for width, skip in zip(decoder_channels, skips):
            stages.append(nn.Sequential(conv_bn_relu(previous + skip, width),
                                        conv_bn_relu(width, width)))
            previous = width
        self.stages = nn.ModuleList(stages)
        # Heads after stages 1..4 (1/8, 1/4, 1/2, 1/1).
        self.heads = nn.ModuleList(nn.Conv2d(width, 1, 3, padding=1)
                                   for width in decoder_channels[1:])
        self.log_min = math.log(min_depth)
        self.log_range = math.log(max_depth) - math.log(min_depth)

    def forward(self, cv_feats: list[torch.Tensor], image_feats: list[torch.Tensor]
                ) -> list[torch.Tensor]:
        skips = (cv_feats[2], cv_feats[1], cv_feats[0], image_feats[0], None)
        x = cv_feats[3]
        log_depths = []
        for index, (stage, skip) in enumerate(zip(self.stages, skips)):
            x = _up(x)
            x = stage(x if skip is None else torch.cat([x, skip], dim=1))
            if index >= 1:
                sigma = torch.sigmoid(self.heads[index - 1](x))
                log_depths.append(self.log_min + self.log_range * sigma)
        return log_depths[::-1]                                  # full resolution first


class MVSDepthNetwork(nn.Module):
    """Reference image + cost volume → depth at four scales.

    ``forward(image, cost_volume, return_log=False)``: ``image (B, 3, H, W)`` RGB in [0, 1]
    (H, W multiples of 32), ``cost_volume (B, D, H/4, W/4)`` → tuple of depth maps in metres
    ``(B, 1, H, W), (B, 1, H/2, W/2), (B, 1, H/4, W/4), (B, 1, H/8, W/8)``; with
    ``return_log`` the log depths instead.
    """

    def __init__(self, num_planes: int, image_channels: tuple[int, ...],
                 cv_channels: tuple[int, ...], decoder_channels: tuple[int, ...],
                 min_depth: float, max_depth: float):
        super().__init__()
        self.image_encoder = ImageEncoder(tuple(image_channels))
        self.cv_encoder = CostVolumeEncoder(num_planes, tuple(image_channels), tuple(cv_channels))
        self.decoder = DepthDecoder(tuple(cv_channels), tuple(image_channels),
                                    tuple(decoder_channels), min_depth, max_depth)

    def forward(self, image: torch.Tensor, cost_volume: torch.Tensor, return_log: bool = False
                ) -> tuple[torch.Tensor, ...]:
        image_feats = self.image_encoder(image)
        log_depths = self.decoder(self.cv_encoder(cost_volume, image_feats), image_feats)
        if return_log:
            return tuple(log_depths)
        return tuple(torch.exp(x) for x in log_depths)
