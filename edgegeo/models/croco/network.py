"""CroCo v2 cross-view completion network (Weinzaepfel et al., NeurIPS 2022 and ICCV 2023).

* :class:`CroCoBackbone` — a Siamese ViT encoder (patch embedding, pre-norm blocks with 2-D RoPE,
  base 100; no absolute positions) and a decoder whose blocks run self-attention over view-1
  tokens → cross-attention from view 1 to the normalised view-2 tokens (which the decoder does
  not update) → MLP. CroCo-Stereo reuses it whole (:mod:`edgegeo.models.stereo`).
* :class:`CroCoNet` — the pre-training model: the backbone plus a linear head that predicts
  the pixels of every view-1 patch; the encoder sees only the visible view-1 patches, mask
  tokens are inserted in the decoder.

Images are ``(B, 3, H, W)`` float32 RGB in [0, 1] with sides multiples of the patch size;
ImageNet normalisation is inside.

References:

* Weinzaepfel et al., "CroCo: Self-Supervised Pre-training for 3D Vision Tasks by Cross-View
  Completion", NeurIPS 2022.
* Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching
  and Optical Flow", ICCV 2023 (code: https://github.com/naver/croco).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..common import IMAGENET_MEAN, IMAGENET_STD
from ..layers.rope import ROPE_BASE, Rope2D, apply_rope_2d, grid_positions
from ..layers.vit import Attention, Block, init_vit_weights

MASK_RATIO = 0.9


@dataclass(frozen=True)
class CroCoConfig:
    """Size of a CroCo backbone.

    Attributes:
        patch_size: side of the square patches, pixels.
        enc_dim, enc_depth, enc_heads: encoder width, blocks, heads (head width a multiple of 4).
        dec_dim, dec_depth, dec_heads: decoder width, blocks, heads.
        mlp_ratio: MLP hidden width as a multiple of the block width.
        rope_base: 2-D RoPE frequency base (CroCo v2: 100).
    """

    patch_size: int = 8
    enc_dim: int = 128
    enc_depth: int = 6
    enc_heads: int = 4
    dec_dim: int = 128
    dec_depth: int = 4
    dec_heads: int = 4
    mlp_ratio: float = 4.0
    rope_base: float = ROPE_BASE

    def __post_init__(self):
        for name in ("patch_size", "enc_dim", "enc_depth", "enc_heads", "dec_dim", "dec_depth",
                     "dec_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CroCoConfig.{name} must be positive, got {getattr(self, name)}")
        for dim, heads, part in ((self.enc_dim, self.enc_heads, "enc"),
                                 (self.dec_dim, self.dec_heads, "dec")):
            if dim % heads or (dim // heads) % 4:
                raise ValueError(f"CroCoConfig: {part}_dim {dim} / {part}_heads {heads} must be "
                                 f"a whole head width divisible by 4 (2-D RoPE)")

    @classmethod
    def tiny(cls) -> CroCoConfig:
        """For tests and smoke runs only (≈ 60 k parameters)."""
        return cls(patch_size=8, enc_dim=32, enc_depth=2, enc_heads=2, dec_dim=32, dec_depth=3,
                   dec_heads=2)

    @classmethod
    def small(cls) -> CroCoConfig:
        """The edge backbone trainable on a CPU: patch 8, encoder 128 × 6 blocks, decoder
        128 × 4 blocks, 4 heads of 32 channels (≈ 2.2 M parameters)."""
        return cls()

    @classmethod
    def named(cls, name: str) -> CroCoConfig:
        if name not in NAMED_CONFIGS:
            raise ValueError(f"unknown croco config {name!r}; available: "
                             f"{', '.join(NAMED_CONFIGS)}")
        return getattr(cls, name)()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> CroCoConfig:
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"not a croco config: {fields!r} ({exc})") from None


NAMED_CONFIGS = ("tiny", "small")


class CrossAttention(nn.Module):
    """Multi-head attention of queries ``x`` to keys/values ``y``, 2-D RoPE on both sides."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor, rope_x, rope_y) -> torch.Tensor:
        """``x`` ``(B, N, C)``, ``y`` ``(B, M, C)`` and RoPE tables for their positions →
        ``(B, N, C)``."""
        batch, count, dim = x.shape
        q, k, v = self._heads(x, y, rope_x, rope_y)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, count, dim))

    def weights(self, x: torch.Tensor, y: torch.Tensor, rope_x, rope_y) -> torch.Tensor:
        """The attention weights of :meth:`forward`: ``(B, heads, N, M)``, rows sum to 1 (for
        inspection: where each view-1 token looks in view 2)."""
        q, k, _ = self._heads(x, y, rope_x, rope_y)
        return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)

    def _heads(self, x, y, rope_x, rope_y):
        batch, count, dim = x.shape
        head = dim // self.num_heads
        q = self.q(x).reshape(batch, count, self.num_heads, head).transpose(1, 2)
        k, v = self.kv(y).reshape(batch, y.shape[1], 2, self.num_heads, head).permute(
            2, 0, 3, 1, 4).unbind(0)
        return apply_rope_2d(q, *rope_x), apply_rope_2d(k, *rope_y), v


class DecoderBlock(nn.Module):
    """``x += self_attn(norm(x))``; ``x += cross_attn(norm(x), norm_y(y))``;
    ``x += mlp(norm(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.norm_y = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x, y, rope_x, rope_y) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x), rope_x)
        x = x + self.cross_attn(self.norm2(x), self.norm_y(y), rope_x, rope_y)
        return x + self.mlp(self.norm3(x))


class CroCoBackbone(nn.Module):
    """Siamese RoPE encoder + cross-attention decoder (no output head)."""

    def __init__(self, config: CroCoConfig | None = None):
        super().__init__()
        self.config = config = config or CroCoConfig.small()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        self.patch_embed = nn.Conv2d(3, config.enc_dim, config.patch_size,
                                     stride=config.patch_size)
        self.enc_rope = Rope2D(config.enc_dim // config.enc_heads, config.rope_base)
        self.enc_blocks = nn.ModuleList(Block(config.enc_dim, config.enc_heads, config.mlp_ratio)
                                        for _ in range(config.enc_depth))
        self.enc_norm = nn.LayerNorm(config.enc_dim, eps=1e-6)
        self.decoder_embed = nn.Linear(config.enc_dim, config.dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.dec_dim))
        self.dec_rope = Rope2D(config.dec_dim // config.dec_heads, config.rope_base)
        self.dec_blocks = nn.ModuleList(
            DecoderBlock(config.dec_dim, config.dec_heads, config.mlp_ratio)
            for _ in range(config.dec_depth))
        self.dec_norm = nn.LayerNorm(config.dec_dim, eps=1e-6)
        self.apply(init_vit_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    def grid_size(self, images: torch.Tensor) -> tuple[int, int]:
        """Patch grid ``(rows, cols)`` of ``(B, 3, H, W)`` images (sides checked)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"CroCo expects (B, 3, H, W) RGB images, got {tuple(images.shape)}")
        patch = self.patch_size
        height, width = images.shape[-2:]
        if height % patch or width % patch:
            raise ValueError(f"image size {height}x{width} is not a multiple of the patch size "
                             f"{patch}")
        return height // patch, width // patch

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] → ImageNet-normalised."""
        return (images - self.mean) / self.std

    def encode(self, images: torch.Tensor, visible: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode all patches, or only the ``visible`` ones.

        Args:
            images: ``(B, 3, H, W)`` RGB in [0, 1].
            visible: ``(B, n)`` int64 indices of the patches to keep (row-major), or None.
        Returns:
            ``(tokens (B, n|N, enc_dim)`` after the final LayerNorm, ``positions (B, n|N, 2)``
            ``(y, x)`` in patch units``)``.
        """
        grid_h, grid_w = self.grid_size(images)
        tokens = self.patch_embed(self.normalise(images)).flatten(2).transpose(1, 2)
        positions = grid_positions(grid_h, grid_w, images.device).expand(
            images.shape[0], -1, -1)
        if visible is not None:
            tokens = tokens.gather(1, visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
            positions = positions.gather(1, visible.unsqueeze(-1).expand(-1, -1, 2))
        rope = self.enc_rope(positions)
        for block in self.enc_blocks:
            tokens = block(tokens, rope)
        return self.enc_norm(tokens), positions

    def decode(self, view1: torch.Tensor, positions1: torch.Tensor, view2: torch.Tensor,
               positions2: torch.Tensor) -> list[torch.Tensor]:
        """Run the decoder.

        Args:
            view1: ``(B, N, dec_dim)`` view-1 tokens (mask tokens included).
            view2: ``(B, M, enc_dim)`` encoded view-2 tokens (projected here).
            positions1, positions2: ``(B, N|M, 2)`` their ``(y, x)`` positions.
        Returns:
            the ``(B, N, dec_dim)`` output of every decoder block, the last one after the
            final LayerNorm.
        """
        context = self.decoder_embed(view2)
        rope1, rope2 = self.dec_rope(positions1), self.dec_rope(positions2)
        outputs = []
        tokens = view1
        for block in self.dec_blocks:
            tokens = block(tokens, context, rope1, rope2)
            outputs.append(tokens)
        outputs[-1] = self.dec_norm(outputs[-1])
        return outputs


class CroCoNet(nn.Module):
    """Cross-view completion: rebuild masked view-1 patches from the visible ones and view 2.

    ``forward(view1, view2, visible)`` → ``(B, N, patch²·3)`` predicted (per-patch normalised)
    pixels of every view-1 patch; the loss reads the masked ones.
    """

    def __init__(self, config: CroCoConfig | None = None):
        super().__init__()
        self.backbone = CroCoBackbone(config)
        self.config = self.backbone.config
        patch = self.config.patch_size
        self.head = nn.Linear(self.config.dec_dim, patch * patch * 3)
        init_vit_weights(self.head)

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    def forward(self, view1: torch.Tensor, view2: torch.Tensor, visible: torch.Tensor
                ) -> torch.Tensor:
        """``view1``, ``view2`` ``(B, 3, H, W)`` RGB in [0, 1]; ``visible`` ``(B, n)`` int64
        patch indices of view 1 the encoder sees → ``(B, N, patch²·3)`` predicted patches."""
        backbone = self.backbone
        grid_h, grid_w = backbone.grid_size(view1)
        if view2.shape != view1.shape:
            raise ValueError(f"views must have the same shape, got {tuple(view1.shape)} and "
                             f"{tuple(view2.shape)}")
        seen, _ = backbone.encode(view1, visible)
        context, positions2 = backbone.encode(view2)
        batch, count = view1.shape[0], grid_h * grid_w
        tokens = backbone.mask_token.expand(batch, count, -1).clone()
        index = visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
        tokens = tokens.scatter(1, index, backbone.decoder_embed(seen))
        positions1 = grid_positions(grid_h, grid_w, view1.device).expand(batch, -1, -1)
        return self.head(backbone.decode(tokens, positions1, context, positions2)[-1])


def random_visible(batch: int, num_patches: int, mask_ratio: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Sorted indices of the patches left visible, a fresh random set per sample.

    Returns:
        ``(batch, n)`` int64, ``n = max(1, round(num_patches · (1 − mask_ratio)))``.
    """
    if not 0 <= mask_ratio < 1:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    keep = max(1, round(num_patches * (1 - mask_ratio)))
    scores = torch.rand(batch, num_patches, generator=generator)
    return scores.argsort(dim=1)[:, :keep].sort(dim=1).values


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, N, patch·patch·C)``, patches row-major, pixels (y, x, c)."""
    batch, channels, height, width = images.shape
    grid = images.reshape(batch, channels, height // patch, patch, width // patch, patch)
    return grid.permute(0, 2, 4, 3, 5, 1).reshape(batch, -1, patch * patch * channels)


def unpatchify(patches: torch.Tensor, patch: int, grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, N, patch·patch·C)`` → ``(B, C, H, W)``."""
    batch = patches.shape[0]
    channels = patches.shape[-1] // (patch * patch)
    grid_h, grid_w = grid
    blocks = patches.reshape(batch, grid_h, grid_w, patch, patch, channels)
    return blocks.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, grid_h * patch,
                                                    grid_w * patch)


def reconstruct(model: CroCoNet, view1: torch.Tensor, view2: torch.Tensor,
                visible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Complete view 1 and show it.

    Args:
        view1, view2: ``(B, 3, H, W)`` RGB in [0, 1].
        visible: ``(B, n)`` int64 view-1 patches the encoder sees.
    Returns:
        ``(masked, rebuilt)``, each ``(B, 3, H, W)`` in [0, 1]: view 1 with hidden patches
        grey, and view 1 with hidden patches replaced by the prediction de-normalised with
        the true patch mean and spread (the loss is on normalised pixels).
    """
    patch = model.patch_size
    grid = model.backbone.grid_size(view1)
    target = patchify(view1, patch)
    prediction = model(view1, view2, visible)
    shown = torch.zeros(target.shape[:2], dtype=torch.bool, device=view1.device)
    shown.scatter_(1, visible, True)
    shown = shown.unsqueeze(-1)
    mean = target.mean(dim=-1, keepdim=True)
    std = (target.var(dim=-1, keepdim=True) + 1e-6).sqrt()
    rebuilt = torch.where(shown, target, prediction * std + mean)
    masked = torch.where(shown, target, torch.full_like(target, 0.5))
    return unpatchify(masked, patch, grid), unpatchify(rebuilt, patch, grid).clamp(0, 1)
