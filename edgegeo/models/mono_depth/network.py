"""The monocular relative-depth network (Depth Anything design, Yang et al., CVPR 2024): ImageNet
normalisation → encoder → DPT decoder → non-negative disparity. Two encoders: a ViT whose DPT
decoder reads four evenly spaced blocks (configs ``tiny``, ``small``, ``base``), or a compact
ResNet-style CNN whose 1/4–1/32 maps a DPT-style fusion decoder reads (``cnn``, ``cnn-tiny``;
:mod:`.conv`).

References:

* Yang et al., "Depth Anything: Unleashing the Power of Large-Scale Unlabeled Data", CVPR 2024
  (code: https://github.com/LiheYoung/Depth-Anything).
* Ranftl et al., "Vision Transformers for Dense Prediction", ICCV 2021.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..common import IMAGENET_MEAN, IMAGENET_STD
from ..layers.dpt import DPTDecoder
from ..layers.vit import ViTConfig, ViTEncoder
from .conv import ConvDPTDecoder, ConvEncoder, ConvEncoderConfig


@dataclass(frozen=True)
class MonoDepthNetConfig:
    """Architecture of :class:`MonoDepthNet`.

    Attributes:
        encoder: the ViT's size, or a :class:`ConvEncoderConfig` (the convolutional variant).
        tap_blocks: the four ViT blocks the decoder reads, shallowest first (None with the
            convolutional encoder, whose four stages are read).
        reassemble_channels: channels of the four reassembled ViT maps (×4, ×2, ×1, ×½ grid;
            None with the convolutional encoder).
        features: channels of the DPT fusion path.
        head_features: channels of the DPT head's hidden layer.
    """

    encoder: ViTConfig | ConvEncoderConfig = ViTConfig()
    tap_blocks: tuple[int, int, int, int] | None = (2, 5, 8, 11)
    reassemble_channels: tuple[int, int, int, int] | None = (48, 96, 192, 384)
    features: int = 64
    head_features: int = 32

    @property
    def convolutional(self) -> bool:
        """True for the CNN encoder variant."""
        return isinstance(self.encoder, ConvEncoderConfig)

    def __post_init__(self):
        if self.convolutional:
            if self.tap_blocks is not None or self.reassemble_channels is not None:
                raise ValueError("tap_blocks and reassemble_channels are ViT settings; leave "
                                 "them None with a ConvEncoderConfig")
            return
        taps = tuple(self.tap_blocks)
        if len(taps) != 4 or list(taps) != sorted(set(taps)) or taps[0] < 0 \
                or taps[-1] >= self.encoder.depth:
            raise ValueError(f"tap_blocks must be 4 increasing block indices in "
                             f"[0, {self.encoder.depth}), got {taps}")
        if len(self.reassemble_channels) != 4:
            raise ValueError(f"reassemble_channels must have 4 entries, got "
                             f"{self.reassemble_channels}")

    @classmethod
    def tiny(cls) -> MonoDepthNetConfig:
        """0.18 M parameters: for tests and smoke runs only."""
        return cls.sized(embed_dim=32, depth=4, num_heads=2, features=16, head_features=8)

    @classmethod
    def small(cls) -> MonoDepthNetConfig:
        """The edge model: patch 16, dim 192, 12 blocks, 3 heads (DeiT-Tiny geometry), DPT
        features 64: 8.06 M parameters, 4.4 GMAC for a 256×320 frame (1.75 of them in the
        encoder), about 100 ms median with torch on 2 CPU cores."""
        return cls.sized(embed_dim=192, depth=12, num_heads=3, features=64)

    @classmethod
    def cnn(cls) -> MonoDepthNetConfig:
        """The convolutional edge model: ResNet-style encoder, widths 32/48/96/160/256, two
        basic blocks per stage, global context at 1/32; DPT-style fusion with 64 features
        (4.4 M parameters)."""
        return cls(ConvEncoderConfig(), tap_blocks=None, reassemble_channels=None, features=64,
                   head_features=32)

    @classmethod
    def cnn_tiny(cls) -> MonoDepthNetConfig:
        """A 0.1 M-parameter convolutional variant for tests and smoke runs only."""
        return cls(ConvEncoderConfig(widths=(8, 8, 16, 16, 32), blocks=(1, 1, 1, 1)),
                   tap_blocks=None, reassemble_channels=None, features=16, head_features=8)

    @classmethod
    def base(cls) -> MonoDepthNetConfig:
        """A larger variant for GPU training: dim 384, 12 blocks, 6 heads, features 128
        (31.8 M parameters)."""
        return cls.sized(embed_dim=384, depth=12, num_heads=6, features=128)

    @classmethod
    def sized(cls, embed_dim: int, depth: int, num_heads: int, features: int = 64,
              head_features: int = 32, patch_size: int = 16, position: str = "learned"
              ) -> MonoDepthNetConfig:
        """A config with Depth Anything's proportions: taps at four evenly spaced blocks ending
        with the last, reassembled maps of ``embed_dim × (1/4, 1/2, 1, 2)`` channels."""
        step = depth / 4
        taps = tuple(round(step * (i + 1)) - 1 for i in range(4))
        channels = tuple(max(1, int(embed_dim * f)) for f in (0.25, 0.5, 1, 2))
        return cls(ViTConfig(patch_size=patch_size, embed_dim=embed_dim, depth=depth,
                             num_heads=num_heads, position=position),
                   tap_blocks=taps, reassemble_channels=channels, features=features,
                   head_features=head_features)

    @classmethod
    def named(cls, name: str) -> MonoDepthNetConfig:
        """One of the named configs: ``tiny``, ``small``, ``base`` (ViT), ``cnn``, ``cnn-tiny``."""
        if name not in NAMED_CONFIGS:
            raise ValueError(f"unknown mono-depth config {name!r}; available: "
                             f"{', '.join(NAMED_CONFIGS)}")
        return getattr(cls, name.replace("-", "_"))()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict (what a model card stores under ``model_config``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> MonoDepthNetConfig:
        """Inverse of :meth:`to_dict` (lists from JSON become tuples)."""
        try:
            encoder = dict(fields["encoder"])
            rest = {k: tuple(v) if isinstance(v, list) else v
                    for k, v in fields.items() if k != "encoder"}
            if "widths" in encoder:              # the convolutional encoder
                return cls(encoder=ConvEncoderConfig(**{k: tuple(v) for k, v in encoder.items()}),
                           **rest)
            encoder["pos_grid"] = tuple(encoder.get("pos_grid", ViTConfig.pos_grid))
            return cls(encoder=ViTConfig(**encoder), **rest)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a mono-depth model config: {fields!r} ({exc})") from None


NAMED_CONFIGS = ("tiny", "small", "base", "cnn", "cnn-tiny")


class MonoDepthNet(nn.Module):
    """Relative (affine-invariant) disparity from one RGB image.

    ``forward``: ``(B, 3, H, W)`` float32 RGB in [0, 1], ``H`` and ``W`` multiples of
    ``patch_size`` (16 for the ViT, 32 for the CNN) → ``(B, 1, H, W)`` float32 disparity ≥ 0,
    larger = nearer, in arbitrary units (scale and shift unknown). ImageNet mean/std
    normalisation is inside.
    """

    def __init__(self, config: MonoDepthNetConfig | None = None):
        super().__init__()
        self.config = config or MonoDepthNetConfig.small()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        if self.config.convolutional:
            self.encoder = ConvEncoder(self.config.encoder)
            self.decoder = ConvDPTDecoder(self.config.encoder.widths[1:], self.config.features,
                                          self.config.head_features)
        else:
            self.encoder = ViTEncoder(self.config.encoder)
            self.decoder = DPTDecoder(self.config.encoder.embed_dim,
                                      self.config.reassemble_channels, self.config.features,
                                      self.config.head_features)

    @property
    def patch_size(self) -> int:
        return self.config.encoder.patch_size

    def forward(self, images: torch.Tensor, return_tokens: bool = False):
        """``(B, 3, H, W)`` RGB in [0, 1], sides multiples of the patch size → ``(B, 1, H, W)``
        disparity ≥ 0; with ``return_tokens`` also the encoder's deepest features as tokens
        ``(B, N, embed_dim)``, patches in row-major order (ViT: the last tapped block, final
        LayerNorm applied; CNN: the 1/32 map, one token per 32×32 patch), which training
        aligns to a frozen encoder in the same ``model(...)`` call (what DDP needs)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"MonoDepthNet expects (B, 3, H, W) RGB, got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        patch = self.patch_size
        if height % patch or width % patch:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch size "
                             f"{patch}; resize or pad it (MonoDepthPredictor does)")
        normalised = (images - self.mean) / self.std
        if self.config.convolutional:
            maps = self.encoder(normalised)
            disparity = self.decoder(maps, (height, width))
            deepest = maps[-1].flatten(2).transpose(1, 2) if return_tokens else None
        else:
            tokens = self.encoder(normalised, self.config.tap_blocks)
            disparity = self.decoder(tokens, (height // patch, width // patch), (height, width))
            deepest = tokens[-1]
        return (disparity, deepest) if return_tokens else disparity


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
