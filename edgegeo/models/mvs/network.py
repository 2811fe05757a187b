"""The 2-D encoder-decoder that turns the cost volume into depth (no 3-D convolutions).

* :class:`CostVolumeEncoder` — U-Net encoder over the ``(B, D, H/4, W/4)`` cost volume; the
  reference image-encoder features are concatenated in at every scale (1/4 … 1/32).
* :class:`DepthDecoder` — U-Net decoder with skips from the cost-volume encoder (1/16, 1/8,
  1/4) and the image encoder (1/2), nearest ×2 upsampling, a depth head at 1/8, 1/4, 1/2, 1/1
  (SimpleRecon; ``decoder="depth"``).
* :class:`PlaneDecoder` — the same U-Net whose 1/4 stage outputs a *correction to the cost
  volume's plane logits*; depth is the soft-argmin over the planes, refined by bounded residuals
  at 1/2 and 1/1 (``decoder="planes"``).
* :class:`MVSDepthNetwork` — image encoder + encoder + one decoder:
  ``(image, cost_volume) → depth at 4 scales``.

**Output parameterisation.** Each head is a 3×3 conv → sigmoid ``σ`` mapped to log depth:
``ln z = ln z_min + σ · (ln z_max − ln z_min)``. Log depth because (i) the depth planes are
log-spaced, so a plane index is an affine function of ``ln z`` and the network regresses
something linear in what the cost volume indexes; (ii) the main loss is L1 on ``ln z``, whose
gradient w.r.t. ``σ`` is then the same at every depth (with a sigmoid over inverse depth the far
range of an 8 m room is squashed into a few percent of the output range); (iii) the sigmoid
keeps every prediction strictly inside ``[z_min, z_max]`` — positive, finite, and never beyond
the range the sweep can observe.

**The planes decoder** makes following the volume the easy path. The volume (``(B, D, H/4,
W/4)`` correlations in [−1, 1]) times a learned temperature are the *volume logits*; their
softmax's expected log depth (soft-argmin) and its largest probability (confidence) enter the
encoder beside the volume. The 1/4 decoder stage adds a correction to the volume logits (its
head starts at zero: the untrained network answers with the volume's soft-argmin); the 1/2 and
1/1 stages add to the bilinearly upsampled log depth a residual bounded to ±4 plane steps
(heads also starting at zero). Both logit sets can be supervised directly with the GT plane
(:func:`~edgegeo.models.mvs.losses.plane_cross_entropy`). Soft-argmin over depth planes:
Kendall et al., "End-to-End Learning of Geometry and Context for Deep Stereo Regression"
(GC-Net), ICCV 2017; the residual refinement follows StereoNet (Khamis et al., ECCV 2018).

**The hint** (``hint=True``, planes decoder only): the map fused so far, rendered at the
reference pose, is a depth guess from other viewpoints — DoubleTake's hint (Sayed et al.,
"DoubleTake: Geometry Guided Depth Estimation", ECCV 2024,
https://github.com/nianticlabs/doubletake), which feeds it to the cost volume. Here it enters
twice, both paths starting at zero so that a warm start begins as the unhinted network: its ¼-
resolution mean log depth and coverage go through a 3×3 conv added to the volume encoder's first
stage (so the U-Net can weigh it against the volume), and its plane scores (a Gaussian one plane
step wide around the hint, times its coverage) are added to the plane logits with a per-pixel
gain the decoder predicts.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .features import ImageEncoder, ResidualBlock, conv_bn_relu


# The hint's plane scores (in [0, 1]) enter the plane logits times this and a learned gain:
# the logits are correlations times ~10, so the zero-initialised gain head can reach that
# scale within a few hundred fine-tuning steps.
HINT_GAIN_SCALE = 10.0


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class CostVolumeEncoder(nn.Module):
    """``(volume (B, volume_channels, H/4, W/4), image_feats)`` → 4 maps at 1/4, 1/8, 1/16, 1/32 with
    ``cv_channels`` channels; ``image_feats`` are the :class:`ImageEncoder` outputs (1/2 … 1/32;
    the 1/4 … 1/32 ones are concatenated in)."""

    def __init__(self, volume_channels: int, image_channels: tuple[int, ...],
                 cv_channels: tuple[int, ...]):
        super().__init__()
        self.first = nn.Sequential(conv_bn_relu(volume_channels + image_channels[1],
                                                cv_channels[0]),
                                   ResidualBlock(cv_channels[0], cv_channels[0]))
        self.down = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for level in range(1, 4):
            self.down.append(ResidualBlock(cv_channels[level - 1], cv_channels[level], stride=2))
            self.fuse.append(nn.Sequential(
                conv_bn_relu(cv_channels[level] + image_channels[level + 1], cv_channels[level]),
                ResidualBlock(cv_channels[level], cv_channels[level])))

    def forward(self, cost_volume: torch.Tensor, image_feats: list[torch.Tensor],
                added: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``added``: optional ``(B, cv_channels[0], H/4, W/4)`` added to the first stage's
        output (the hint's features)."""
        x = self.first(torch.cat([cost_volume, image_feats[1]], dim=1))
        if added is not None:
            x = x + added
        outputs = [x]
        for level, (down, fuse) in enumerate(zip(self.down, self.fuse), start=1):
            x = fuse(torch.cat([down(x), image_feats[level + 1]], dim=1))
            outputs.append(x)
        return outputs


def decoder_stages(in_channels: int, widths: tuple[int, ...], skips: tuple[int, ...]
                   ) -> nn.ModuleList:
    """The U-Net decoder's stages, coarse to fine: stage ``i`` reads the previous stage's
    output (×2 upsampled; ``in_channels`` for the first) concatenated with ``skips[i]``
    channels, and is two 3×3 conv-BN-ReLU layers of ``widths[i]`` channels."""
    stages, previous = [], in_channels
    for width, skip in zip(widths, skips):
        stages.append(nn.Sequential(conv_bn_relu(previous + skip, width),
                                    conv_bn_relu(width, width)))
        previous = width
    return nn.ModuleList(stages)


class DepthDecoder(nn.Module):
    """U-Net decoder: cost-volume encoder maps (1/4 … 1/32) + the 1/2 image feature → log depth
    at 1/1, 1/2, 1/4, 1/8 (in that order), each in ``[ln min_depth, ln max_depth]``."""

    def __init__(self, cv_channels: tuple[int, ...], image_channels: tuple[int, ...],
                 decoder_channels: tuple[int, ...], min_depth: float, max_depth: float):
        super().__init__()
        self.stages = decoder_stages(cv_channels[3], decoder_channels,
                                     (cv_channels[2], cv_channels[1], cv_channels[0],
                                      image_channels[0], 0))
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


class PlaneDecoder(nn.Module):
    """U-Net decoder over the planes (see the module docstring): cost-volume encoder maps
    (1/4 … 1/32), the 1/2 image feature and the volume logits ``(B, D, H/4, W/4)`` →

    * ``log_depth``: log depth at 1/1, 1/2, 1/4, 1/8 (in that order) in ``[ln min, ln max]``;
    * ``plane_logits``: ``(B, D, H/4, W/4)`` volume logits + the decoder's correction;
    * ``confidence``: ``(B, 1, H/4, W/4)`` the largest plane probability, in (0, 1].
    """

    def __init__(self, cv_channels: tuple[int, ...], image_channels: tuple[int, ...],
                 decoder_channels: tuple[int, ...], log_planes: torch.Tensor,
                 hint: bool = False):
        super().__init__()
        # The 1/2 and 1/1 stages also read the upsampled log depth (one channel).
        self.stages = decoder_stages(cv_channels[3], decoder_channels,
                                     (cv_channels[2], cv_channels[1], cv_channels[0],
                                      image_channels[0] + 1, 1))
        self.plane_head = nn.Conv2d(decoder_channels[2], len(log_planes), 3, padding=1)
        self.refine_heads = nn.ModuleList(nn.Conv2d(width, 1, 3, padding=1)
                                          for width in decoder_channels[3:])
        # With a hint: the per-pixel gain of the hint's plane scores in the plane logits.
        self.hint_head = nn.Conv2d(decoder_channels[2], 1, 3, padding=1) if hint else None
        for head in (self.plane_head, *self.refine_heads, *filter(None, [self.hint_head])):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.register_buffer("log_planes", log_planes.clone(), persistent=False)
        self.log_min = float(log_planes[0])
        self.log_range = float(log_planes[-1] - log_planes[0])
        self.residual_bound = 4.0 * self.log_range / (len(log_planes) - 1)

    def normalised(self, log_depth: torch.Tensor) -> torch.Tensor:
        """Log depth mapped to [0, 1] over the planes' range (a network input)."""
        return (log_depth - self.log_min) / self.log_range

    def forward(self, cv_feats: list[torch.Tensor], image_feats: list[torch.Tensor],
                volume_logits: torch.Tensor, hint_planes: torch.Tensor | None = None
                ) -> dict[str, Any]:
        """``hint_planes``: ``(B, D, H/4, W/4)`` the hint's plane scores (hinted decoder
        only)."""
        x = cv_feats[3]
        for stage, skip in zip(self.stages[:3], (cv_feats[2], cv_feats[1], cv_feats[0])):
            x = stage(torch.cat([_up(x), skip], dim=1))
        plane_logits = volume_logits + self.plane_head(x)
        if self.hint_head is not None:
            plane_logits = plane_logits + HINT_GAIN_SCALE * self.hint_head(x) * hint_planes
        log_quarter, confidence = soft_argmin(plane_logits, self.log_planes)
        log_depths = [log_quarter]
        for stage, head, skip in zip(self.stages[3:], self.refine_heads, (image_feats[0], None)):
            coarse = F.interpolate(log_depths[-1], scale_factor=2.0, mode="bilinear",
                                   align_corners=False)
            inputs = [_up(x), self.normalised(coarse)] + ([] if skip is None else [skip])
            x = stage(torch.cat(inputs, dim=1))
            residual = self.residual_bound * torch.tanh(head(x))
            log_depths.append((coarse + residual).clamp(self.log_min,
                                                        self.log_min + self.log_range))
        log_eighth = F.avg_pool2d(log_quarter, 2)
        return {"log_depth": [log_depths[2], log_depths[1], log_quarter, log_eighth],
                "plane_logits": plane_logits, "confidence": confidence}


def soft_argmin(logits: torch.Tensor, log_planes: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected log depth under ``softmax(logits)`` over the planes, and the largest
    probability: ``(B, D, h, w)``, ``(D,)`` → ``(B, 1, h, w)`` each."""
    probability = torch.softmax(logits, dim=1)
    log_depth = (probability * log_planes.view(1, -1, 1, 1)).sum(1, keepdim=True)
    return log_depth, probability.amax(1, keepdim=True)


class MVSDepthNetwork(nn.Module):
    """Reference image + cost volume → depth at four scales.

    ``forward(image, cost_volume)``: ``image (B, 3, H, W)`` RGB in [0, 1] (H, W multiples of
    32), ``cost_volume (B, D, H/4, W/4)`` → dict: ``log_depth`` — list of ``(B, 1, H/s, W/s)``
    natural-log depths in metres for s = 1, 2, 4, 8; with ``decoder="planes"`` also
    ``volume_logits`` and ``plane_logits`` ``(B, D, H/4, W/4)`` (before and after the U-Net's
    correction) and ``confidence`` ``(B, 1, H/4, W/4)``.

    Args:
        planes: ``(D,)`` the sweep's plane depths in metres, increasing (the ``planes``
            decoder reads them all; the ``depth`` decoder only their range).
        decoder: ``"depth"`` or ``"planes"`` (see the module docstring).
    """

    def __init__(self, planes: torch.Tensor, image_channels: tuple[int, ...],
                 cv_channels: tuple[int, ...], decoder_channels: tuple[int, ...],
                 decoder: str = "depth", hint: bool = False):
        super().__init__()
        if hint and decoder != "planes":
            raise ValueError("a depth hint needs the planes decoder")
        num_planes = len(planes)
        self.decoder_kind = decoder
        self.image_encoder = ImageEncoder(tuple(image_channels))
        extra = 2 if decoder == "planes" else 0
        self.cv_encoder = CostVolumeEncoder(num_planes + extra, tuple(image_channels),
                                            tuple(cv_channels))
        if decoder == "planes":
            # Correlations in [-1, 1] times 10 (learned) make a peaked but not one-hot softmax.
            self.log_temperature = nn.Parameter(torch.tensor(math.log(10.0)))
            self.decoder = PlaneDecoder(tuple(cv_channels), tuple(image_channels),
                                        tuple(decoder_channels), torch.log(planes), hint)
        else:
            self.decoder = DepthDecoder(tuple(cv_channels), tuple(image_channels),
                                        tuple(decoder_channels), float(planes[0]),
                                        float(planes[-1]))

        self.hint_encoder = None
        if hint:
            # (normalised log hint, hint coverage) → features added to the volume encoder's
            # first stage; starts at zero, so a warm start begins as the unhinted network.
            self.hint_encoder = nn.Conv2d(2, cv_channels[0], 3, padding=1)
            nn.init.zeros_(self.hint_encoder.weight)
            nn.init.zeros_(self.hint_encoder.bias)

    def hint_inputs(self, hint_depth: torch.Tensor, size: tuple[int, int]
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hint_depth (B, 1, H, W)`` metres (0 = none) → at ``size`` (the volume's ¼
        resolution): ``(B, 2, h, w)`` encoder input (the hint's mean log depth over its
        pixels in each cell, normalised to [0, 1] over the planes, and the fraction of the
        cell it covers) and ``(B, D, h, w)`` plane scores ``coverage · exp(−½ (Δ/step)²)``,
        Δ the log-depth gap between plane and hint, step the plane spacing."""
        decoder = self.decoder
        valid = (hint_depth > 0).to(hint_depth.dtype)
        log_hint = torch.log(hint_depth.clamp(math.exp(decoder.log_min),
                                              math.exp(decoder.log_min + decoder.log_range)))
        kernel = (hint_depth.shape[-2] // size[0], hint_depth.shape[-1] // size[1])
        coverage = F.avg_pool2d(valid, kernel)
        log_mean = F.avg_pool2d(log_hint * valid, kernel) / coverage.clamp_min(1e-6)
        log_mean = torch.where(coverage > 0, log_mean, torch.full_like(log_mean,
                                                                       decoder.log_min))
        step = decoder.log_range / (decoder.log_planes.numel() - 1)
        gap = (decoder.log_planes.view(1, -1, 1, 1) - log_mean) / step
        planes = coverage * torch.exp(-0.5 * gap * gap)
        return torch.cat([decoder.normalised(log_mean) * coverage, coverage], dim=1), planes

    def forward(self, image: torch.Tensor, cost_volume: torch.Tensor,
                hint_depth: torch.Tensor | None = None) -> dict[str, Any]:
        """``hint_depth``: ``(B, 1, H, W)`` metres, 0 = none (hinted network only; None =
        no hint anywhere)."""
        image_feats = self.image_encoder(image)
        if self.decoder_kind == "depth":
            cv_feats = self.cv_encoder(cost_volume, image_feats)
            return {"log_depth": list(self.decoder(cv_feats, image_feats))}
        volume_logits = cost_volume * torch.exp(self.log_temperature)
        answer, confidence = soft_argmin(volume_logits, self.decoder.log_planes)
        volume = torch.cat([cost_volume, self.decoder.normalised(answer), confidence], dim=1)
        added = hint_planes = None
        if self.hint_encoder is not None:
            if hint_depth is None:
                hint_depth = image.new_zeros(image.shape[0], 1, *image.shape[-2:])
            hint_features, hint_planes = self.hint_inputs(hint_depth, cost_volume.shape[-2:])
            added = self.hint_encoder(hint_features)
        elif hint_depth is not None:
            raise ValueError("this network reads no depth hint")
        cv_feats = self.cv_encoder(volume, image_feats, added)
        outputs = self.decoder(cv_feats, image_feats, volume_logits, hint_planes)
        outputs["volume_logits"] = volume_logits
        return outputs
