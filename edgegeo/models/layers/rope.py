"""2-D rotary position embedding (RoPE) as in CroCo v2 (Weinzaepfel et al., ICCV 2023).

Each token has a position ``(y, x)`` on the patch grid. For a head of ``D`` channels
(``D`` a multiple of 4), the first half ``[0, D/2)`` is rotated by ``y`` and the second half
``[D/2, D)`` by ``x``. Within a half of ``h = D/2`` channels, channel ``i`` pairs with channel
``i + h/2`` (``0 <= i < h/2``); the pair is rotated by the angle ``position · f_i`` with
``f_i = 1 / base^(2i / h)`` and ``base = 100``:

    a' = a·cos − b·sin,   b' = b·cos + a·sin     (a = channel i, b = channel i + h/2)

Applied to queries and keys, the score ``q·k`` then depends on the positions only through
their difference. Only real arithmetic (Mul, Add, Concat, Slice, Sin, Cos) is used, so the
rotation exports to ONNX and runs in TensorRT.

References:

* Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching
  and Optical Flow", ICCV 2023 (code: https://github.com/naver/croco).
* Su et al., "RoFormer: Enhanced Transformer with Rotary Position Embedding", arXiv:2104.09864,
  2021.
"""
from __future__ import annotations

import torch
from torch import nn

ROPE_BASE = 100.0


def grid_positions(grid_h: int, grid_w: int, device: torch.device | str | None = None
                   ) -> torch.Tensor:
    """Positions of a row-major ``grid_h × grid_w`` token grid.

    Returns:
        ``(grid_h·grid_w, 2)`` float32, columns ``(y, x)`` in patch units, token ``n`` at
        ``y = n // grid_w``, ``x = n % grid_w``.
    """
    ys = torch.arange(grid_h, device=device, dtype=torch.float32)
    xs = torch.arange(grid_w, device=device, dtype=torch.float32)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([y.reshape(-1), x.reshape(-1)], dim=-1)


class Rope2D(nn.Module):
    """Rotation tables of 2-D RoPE for heads of ``head_dim`` channels.

    Call it with the token positions to get ``(cos, sin)``, then rotate queries and keys with
    :func:`apply_rope_2d`. The tables are computed from the positions on every call (no size
    limit, exported as Sin/Cos of the position grid).
    """

    def __init__(self, head_dim: int, base: float = ROPE_BASE):
        super().__init__()
        if head_dim <= 0 or head_dim % 4:
            raise ValueError(f"2-D RoPE needs a head dimension that is a positive multiple of 4, "
                             f"got {head_dim}")
        if base <= 0:
            raise ValueError(f"RoPE base must be positive, got {base}")
        half = head_dim // 2
        exponents = torch.arange(0, half, 2, dtype=torch.float32) / half    # 2k / half
        self.head_dim = head_dim
        self.base = float(base)
        self.register_buffer("inv_freq", base ** -exponents, persistent=False)  # (head_dim/4,)

    def forward(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotation tables for tokens at ``positions``.

        Args:
            positions: ``(N, 2)`` or ``(B, N, 2)`` float ``(y, x)`` in patch units.
        Returns:
            ``(cos, sin)``, each ``(N, head_dim)`` or ``(B, N, head_dim)`` float32, laid out per
            channel: ``cos`` holds ``cos(angle)`` of the channel's pair; ``sin`` holds
            ``−sin(angle)`` on the first channel of a pair and ``+sin(angle)`` on the second,
            so that ``rotated = x·cos + partner(x)·sin``.
        """
        if positions.shape[-1] != 2 or positions.dim() not in (2, 3):
            raise ValueError(f"positions must be (N, 2) or (B, N, 2) (y, x), got "
                             f"{tuple(positions.shape)}")
        angles_y = positions[..., 0:1].float() * self.inv_freq    # (..., N, head_dim/4)
        angles_x = positions[..., 1:2].float() * self.inv_freq
        cos_y, sin_y = angles_y.cos(), angles_y.sin()
        cos_x, sin_x = angles_x.cos(), angles_x.sin()
        cos = torch.cat([cos_y, cos_y, cos_x, cos_x], dim=-1)
        sin = torch.cat([-sin_y, sin_y, -sin_x, sin_x], dim=-1)
        return cos, sin


def apply_rope_2d(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate query or key channels by their token positions.

    Args:
        x: ``(B, heads, N, D)`` float queries or keys.
        cos, sin: tables from :class:`Rope2D` for the same ``D``: ``(N, D)`` (shared by the
            batch) or ``(B, N, D)``.
    Returns:
        ``(B, heads, N, D)``, same dtype as ``x``.
    """
    if x.dim() != 4 or cos.shape[-1] != x.shape[-1]:
        raise ValueError(f"apply_rope_2d expects x (B, heads, N, D) and tables (.., N, D), got "
                         f"x {tuple(x.shape)} and tables {tuple(cos.shape)}")
    if cos.dim() == 3:                      # per-sample positions: broadcast over heads
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    q = x.shape[-1] // 4
    # Each channel's partner in its pair: swap the two quarters inside each half.
    partner = torch.cat([x[..., q:2 * q], x[..., :q], x[..., 3 * q:], x[..., 2 * q:3 * q]], dim=-1)
    return x * cos.to(x.dtype) + partner * sin.to(x.dtype)
