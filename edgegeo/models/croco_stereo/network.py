"""CroCo-Stereo (CroCo v2, Weinzaepfel et al., ICCV 2023): the CroCo backbone on (left, right)
with a DPT head reading the last encoder block and three evenly spaced decoder blocks →
disparity and confidence.

The left image is view 1 (all patches, nothing masked), the right image view 2. The head's two
raw channels become

* disparity ``d = disparity_scale · softplus(raw₀)`` in pixels of the input (≥ 0, smooth, no
  dead zone at initialisation),
* the bounded log-scale ``c = 6·(sigmoid(raw₁/3) − 0.5)`` ∈ (−3, 3) of CroCo-Stereo's
  Laplacian loss ``|d − d_gt|·exp(−c) + c``; ``exp(−c)`` is the confidence (larger = surer).

References:

* Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching
  and Optical Flow", ICCV 2023 (code: https://github.com/naver/croco).
* Ranftl et al., "Vision Transformers for Dense Prediction", ICCV 2021.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..croco import CroCoBackbone, CroCoConfig
from ..layers.dpt import DPTDecoder

CONFIDENCE_BOUND = 3.0


@dataclass(frozen=True)
class CroCoStereoConfig:
    """Architecture of :class:`CroCoStereoNet`.

    Attributes:
        backbone: the CroCo encoder/decoder.
        dec_taps: the three decoder blocks the head reads (0-based, increasing).
        reassemble_channels: channels of the DPT's four reassembled maps.
        features: DPT fusion channels.
        head_features: DPT head hidden channels.
        disparity_scale: pixels per unit of ``softplus`` output.
    """

    backbone: CroCoConfig = CroCoConfig()
    dec_taps: tuple[int, int, int] = (1, 2, 3)
    reassemble_channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    features: int = 64
    head_features: int = 32
    disparity_scale: float = 16.0

    def __post_init__(self):
        taps = tuple(self.dec_taps)
        if len(taps) != 3 or list(taps) != sorted(set(taps)) or taps[0] < 0 \
                or taps[-1] >= self.backbone.dec_depth:
            raise ValueError(f"dec_taps must be 3 increasing decoder block indices in "
                             f"[0, {self.backbone.dec_depth}), got {taps}")
        if self.disparity_scale <= 0:
            raise ValueError(f"disparity_scale must be positive, got {self.disparity_scale}")

    @classmethod
    def for_backbone(cls, backbone: CroCoConfig, features: int = 64,
                     head_features: int = 32) -> CroCoStereoConfig:
        """Taps at three evenly spaced decoder blocks ending with the last; reassembled maps
        of ``enc_dim × (1/4, 1/2, 1, 2)`` channels."""
        depth = backbone.dec_depth
        taps = tuple(sorted({max(0, round(depth * k / 3) - 1) for k in (1, 2, 3)}))
        if len(taps) < 3:
            raise ValueError(f"a stereo head needs a decoder of at least 3 blocks, got {depth}")
        channels = tuple(max(1, int(backbone.enc_dim * f)) for f in (0.25, 0.5, 1, 2))
        return cls(backbone=backbone, dec_taps=taps, reassemble_channels=channels,
                   features=features, head_features=head_features)

    @classmethod
    def tiny(cls) -> CroCoStereoConfig:
        return cls.for_backbone(CroCoConfig.tiny(), features=16, head_features=8)

    @classmethod
    def small(cls) -> CroCoStereoConfig:
        """The edge model: :meth:`CroCoConfig.small` + a 64-channel DPT head."""
        return cls.for_backbone(CroCoConfig.small())

    @classmethod
    def named(cls, name: str) -> CroCoStereoConfig:
        if name not in NAMED_CONFIGS:
            raise ValueError(f"unknown stereo config {name!r}; available: "
                             f"{', '.join(NAMED_CONFIGS)}")
        return getattr(cls, name)()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> CroCoStereoConfig:
        try:
            rest = {k: tuple(v) if isinstance(v, list) else v
                    for k, v in fields.items() if k != "backbone"}
            return cls(backbone=CroCoConfig.from_dict(dict(fields["backbone"])), **rest)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a stereo model config: {fields!r} ({exc})") from None


NAMED_CONFIGS = ("tiny", "small")


def bounded_log_scale(raw: torch.Tensor) -> torch.Tensor:
    """CroCo-Stereo's bounded confidence: ``6·(sigmoid(raw/3) − 0.5)`` ∈ (−3, 3)."""
    return 2 * CONFIDENCE_BOUND * (torch.sigmoid(raw / CONFIDENCE_BOUND) - 0.5)


class CroCoStereoNet(nn.Module):
    """Disparity of a rectified pair.

    ``forward(left, right)``: ``(B, 3, H, W)`` float32 RGB in [0, 1] each, sides multiples of
    the patch size → ``(B, 2, H, W)``: channel 0 disparity of the left image in pixels (≥ 0),
    channel 1 the bounded log-scale ``c`` ∈ (−3, 3) (confidence = ``exp(−c)``).
    """

    def __init__(self, config: CroCoStereoConfig | None = None):
        super().__init__()
        self.config = config = config or CroCoStereoConfig.small()
        self.backbone = CroCoBackbone(config.backbone)
        dims = (config.backbone.enc_dim,) + (config.backbone.dec_dim,) * 3
        self.head = DPTDecoder(dims, config.reassemble_channels, config.features,
                               config.head_features, out_channels=2, final_relu=False)
        nn.init.zeros_(self.head.head_out.bias)

    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        if left.shape != right.shape:
            raise ValueError(f"left and right must have the same shape, got "
                             f"{tuple(left.shape)} and {tuple(right.shape)}")
        grid = self.backbone.grid_size(left)
        left_tokens, left_positions = self.backbone.encode(left)
        right_tokens, right_positions = self.backbone.encode(right)
        decoded = self.backbone.decode(self.backbone.decoder_embed(left_tokens), left_positions,
                                       right_tokens, right_positions)
        taps = [left_tokens] + [decoded[i] for i in self.config.dec_taps]
        raw = self.head(taps, grid, tuple(left.shape[-2:]))
        disparity = self.config.disparity_scale * F.softplus(raw[:, :1])
        return torch.cat([disparity, bounded_log_scale(raw[:, 1:])], dim=1)


def load_backbone_weights(model: CroCoStereoNet, state: dict[str, torch.Tensor]) -> int:
    """Initialise ``model.backbone`` from a ``croco`` state dict (keys ``backbone.*``).

    Returns:
        the number of tensors copied.
    Raises:
        ValueError: the state holds no backbone or does not fit the model's backbone config.
    """
    prefix = "backbone."
    backbone_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not backbone_state:
        raise ValueError("these weights hold no CroCo backbone (no 'backbone.*' tensors)")
    try:
        model.backbone.load_state_dict(backbone_state)
    except RuntimeError as exc:
        raise ValueError(f"CroCo weights do not fit the stereo backbone "
                         f"{model.config.backbone}: {str(exc).splitlines()[0]}") from None
    return len(backbone_state)
