"""Vision Transformer encoder: patch embedding, pre-norm blocks, and either a learned absolute
position embedding (resampled to any grid) or 2-D RoPE; returns the tokens of chosen blocks.

No class token: every token is a patch, so the tokens of a block reshape directly to a
``(grid_h, grid_w)`` map (what the DPT decoder reads).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .rope import ROPE_BASE, Rope2D, apply_rope_2d, grid_positions

POSITION_KINDS = ("learned", "rope")


@dataclass(frozen=True)
class ViTConfig:
    """Size of a ViT encoder.

    Attributes:
        patch_size: side of the square patches in pixels; input sides must be multiples of it.
        embed_dim: token channels.
        depth: number of transformer blocks.
        num_heads: attention heads; ``embed_dim / num_heads`` must be an integer (a multiple of
            4 with RoPE).
        mlp_ratio: hidden width of the block MLP as a multiple of ``embed_dim``.
        position: ``"learned"`` (absolute embedding, bilinearly resampled from ``pos_grid`` to
            the input's grid) or ``"rope"`` (2-D rotary embedding in every attention layer).
        pos_grid: ``(rows, cols)`` grid the learned embedding is stored at (ignored with RoPE).
        rope_base: RoPE frequency base (100, as CroCo v2).
    """

    patch_size: int = 16
    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 3
    mlp_ratio: float = 4.0
    position: str = "learned"
    pos_grid: tuple[int, int] = (16, 20)
    rope_base: float = ROPE_BASE

    def __post_init__(self):
        for name in ("patch_size", "embed_dim", "depth", "num_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ViTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"ViTConfig.embed_dim {self.embed_dim} is not divisible by "
                             f"num_heads {self.num_heads}")
        if self.position not in POSITION_KINDS:
            raise ValueError(f"ViTConfig.position must be one of {POSITION_KINDS}, got "
                             f"{self.position!r}")
        if self.position == "rope" and self.head_dim % 4:
            raise ValueError(f"2-D RoPE needs a head dimension divisible by 4; embed_dim "
                             f"{self.embed_dim} / num_heads {self.num_heads} = {self.head_dim}")
        if len(self.pos_grid) != 2 or min(self.pos_grid) <= 0:
            raise ValueError(f"ViTConfig.pos_grid must be two positive ints, got {self.pos_grid}")
        if self.mlp_ratio <= 0:
            raise ValueError(f"ViTConfig.mlp_ratio must be positive, got {self.mlp_ratio}")

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


class Attention(nn.Module):
    """Multi-head self-attention, optionally with 2-D RoPE on queries and keys."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, tokens: torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``(B, N, C)`` → ``(B, N, C)``; ``rope`` = ``(cos, sin)`` tables from :class:`Rope2D`."""
        batch, count, dim = tokens.shape
        qkv = self.qkv(tokens).reshape(batch, count, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)          # each (B, heads, N, head_dim)
        if rope is not None:
            q, k = apply_rope_2d(q, *rope), apply_rope_2d(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, count, dim))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, tokens: torch.Tensor,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        tokens = tokens + self.attn(self.norm1(tokens), rope)
        return tokens + self.mlp(self.norm2(tokens))


class ViTEncoder(nn.Module):
    """ViT over an image whose sides are multiples of the patch size."""

    def __init__(self, config: ViTConfig):
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = nn.Conv2d(3, dim, config.patch_size, stride=config.patch_size)
        if config.position == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, dim, *config.pos_grid))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
            self.rope = None
        else:
            self.pos_embed = None
            self.rope = Rope2D(config.head_dim, config.rope_base)
        self.blocks = nn.ModuleList(Block(dim, config.num_heads, config.mlp_ratio)
                                    for _ in range(config.depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(init_vit_weights)

    def forward(self, images: torch.Tensor, blocks: Sequence[int]) -> list[torch.Tensor]:
        """Tokens after the given blocks.

        Args:
            images: ``(B, 3, H, W)`` float32, already normalised; ``H`` and ``W`` multiples of
                ``patch_size``.
            blocks: 0-based block indices to return, e.g. ``(2, 5, 8, 11)``.
        Returns:
            One ``(B, N, embed_dim)`` float32 tensor per requested block (in the order asked),
            final LayerNorm applied, ``N = (H/patch)·(W/patch)`` tokens in row-major grid order.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"ViTEncoder expects (B, 3, H, W) images, got {tuple(images.shape)}")
        patch = self.config.patch_size
        if images.shape[-2] % patch or images.shape[-1] % patch:
            raise ValueError(f"image size {tuple(images.shape[-2:])} is not a multiple of the "
                             f"patch size {patch}")
        bad = [b for b in blocks if not 0 <= b < len(self.blocks)]
        if bad or not blocks:
            raise ValueError(f"blocks must be non-empty indices in [0, {len(self.blocks)}), "
                             f"got {list(blocks)}")
        patches = self.patch_embed(images)                       # (B, C, gh, gw)
        grid_h, grid_w = patches.shape[-2:]
        rope = None
        if self.pos_embed is not None:
            patches = patches + F.interpolate(self.pos_embed, size=(grid_h, grid_w),
                                              mode="bilinear", align_corners=False)
        else:
            rope = self.rope(grid_positions(grid_h, grid_w, images.device))
        tokens = patches.flatten(2).transpose(1, 2)              # (B, N, C)
        normed: dict[int, torch.Tensor] = {}
        for index, block in enumerate(self.blocks[:max(blocks) + 1]):
            tokens = block(tokens, rope)
            if index in blocks:
                normed[index] = self.norm(tokens)
        return [normed[b] for b in blocks]


def init_vit_weights(module: nn.Module) -> None:
    """Truncated-normal (std 0.02) linear weights, zero biases, unit LayerNorms (ViT/DeiT)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
