"""DPT decoder (Ranftl et al. 2021, as used by Depth Anything): four tapped ViT blocks →
a dense non-negative map at the input resolution.

1. Reassemble: each block's tokens become a ``(C_i, grid_h, grid_w)`` map, projected by a 1×1
   conv and resampled to ×4, ×2, ×1 and ×½ of the patch grid (transposed convs up, a strided
   3×3 conv down), then brought to ``features`` channels by a 3×3 conv.
2. Fuse coarse-to-fine: ``path = proj(up(rcu2(path + rcu1(skip))))``, with residual conv
   units ``x + conv(relu(conv(relu(x))))``; every upsampling goes to the size of the next finer
   map, so odd grids work.
3. Head: conv 3×3 → bilinear upsample to the input size → conv 3×3 → ReLU → conv 1×1 (→ ReLU
   for a non-negative single map; raw channels for heads that apply their own activations,
   such as the stereo head's disparity + confidence).

The four token sets may have different widths (CroCo-Stereo reads one encoder block and three
decoder blocks).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

GRID_SCALES = (4, 2, 1, 0.5)   # resolution of each reassembled map relative to the patch grid


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ResidualConvUnit(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` with 3×3 convs; ``(B, C, h, w)`` → same shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """One coarse-to-fine step: add the refined skip map (if any), refine, upsample, project."""

    def __init__(self, features: int, with_skip: bool):
        super().__init__()
        self.skip_unit = ResidualConvUnit(features) if with_skip else None
        self.unit = ResidualConvUnit(features)
        self.project = nn.Conv2d(features, features, 1)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None,
                size: tuple[int, int]) -> torch.Tensor:
        """``path`` ``(B, F, h, w)`` (+ ``skip`` of the same shape) → ``(B, F, *size)``."""
        if (skip is None) != (self.skip_unit is None):
            raise ValueError("FusionBlock: pass a skip map exactly when built with_skip=True")
        if skip is not None:
            path = path + self.skip_unit(skip)
        return self.project(_resize(self.unit(path), size))


def _resampler(channels: int, scale: float) -> nn.Module:
    """Module taking a ``(B, channels, h, w)`` map to ``scale`` × its size."""
    if scale == 4:
        return nn.ConvTranspose2d(channels, channels, 4, stride=4)
    if scale == 2:
        return nn.ConvTranspose2d(channels, channels, 2, stride=2)
    if scale == 1:
        return nn.Identity()
    if scale == 0.5:
        return nn.Conv2d(channels, channels, 3, stride=2, padding=1)
    raise ValueError(f"no resampler for scale {scale}; use one of {GRID_SCALES}")


class DPTDecoder(nn.Module):
    """Dense prediction from the tokens of four ViT blocks.

    Args:
        embed_dim: channels of the ViT tokens: one int for all four token sets, or four ints
            (shallowest first).
        reassemble_channels: channels of the four reassembled maps (×4, ×2, ×1, ×½ grid).
        features: channels of the fusion path (64 in an edge model).
        head_features: channels of the head's last hidden layer.
        out_channels: channels of the output map.
        final_relu: end with a ReLU (a non-negative map); False returns the raw last conv.
    """

    def __init__(self, embed_dim: int | Sequence[int],
                 reassemble_channels: Sequence[int] = (48, 96, 192, 384),
                 features: int = 64, head_features: int = 32, out_channels: int = 1,
                 final_relu: bool = True):
        super().__init__()
        token_dims = [embed_dim] * len(GRID_SCALES) if isinstance(embed_dim, int) \
            else list(embed_dim)
        if len(token_dims) != len(GRID_SCALES) or min(token_dims) <= 0 or out_channels <= 0:
            raise ValueError(f"embed_dim must be a positive int or {len(GRID_SCALES)} positive "
                             f"ints and out_channels positive, got {embed_dim}, {out_channels}")
        if len(reassemble_channels) != len(GRID_SCALES) or min(reassemble_channels) <= 0:
            raise ValueError(f"reassemble_channels must be {len(GRID_SCALES)} positive ints, got "
                             f"{tuple(reassemble_channels)}")
        if features < 2 or head_features <= 0:
            raise ValueError(f"features must be >= 2 and head_features > 0, got {features} and "
                             f"{head_features}")
        self.projects = nn.ModuleList(nn.Conv2d(d, c, 1)
                                      for d, c in zip(token_dims, reassemble_channels))
        self.resamples = nn.ModuleList(_resampler(c, s)
                                       for c, s in zip(reassemble_channels, GRID_SCALES))
        self.to_features = nn.ModuleList(nn.Conv2d(c, features, 3, padding=1, bias=False)
                                         for c in reassemble_channels)
        # fusions[i] refines level i (0 = finest, ×4); the coarsest has no skip input.
        self.fusions = nn.ModuleList(FusionBlock(features, with_skip=i < 3) for i in range(4))
        self.head_in = nn.Conv2d(features, features // 2, 3, padding=1)
        self.head_hidden = nn.Conv2d(features // 2, head_features, 3, padding=1)
        self.head_out = nn.Conv2d(head_features, out_channels, 1)
        self.final_relu = final_relu
        # A positive start keeps the final ReLU active everywhere: with a zero-mean bias most
        # random initialisations put the whole map below 0, where the ReLU passes no gradient.
        nn.init.constant_(self.head_out.bias, 1.0)

    def forward(self, tokens: Sequence[torch.Tensor], grid_size: tuple[int, int],
                out_size: tuple[int, int]) -> torch.Tensor:
        """Decode.

        Args:
            tokens: four ``(B, grid_h·grid_w, C_i)`` float32 token sets (row-major grid),
                shallowest block first, ``C_i`` the widths given as ``embed_dim``.
            grid_size: ``(grid_h, grid_w)`` of the patch grid.
            out_size: ``(H, W)`` of the output in pixels.
        Returns:
            ``(B, out_channels, H, W)`` float32, ≥ 0 with ``final_relu``.
        """
        if len(tokens) != len(GRID_SCALES):
            raise ValueError(f"DPTDecoder needs {len(GRID_SCALES)} token sets, got {len(tokens)}")
        grid_h, grid_w = grid_size
        maps = []
        for layer_tokens, project, resample, to_features in zip(
                tokens, self.projects, self.resamples, self.to_features):
            batch, _, channels = layer_tokens.shape
            grid = layer_tokens.transpose(1, 2).reshape(batch, channels, grid_h, grid_w)
            maps.append(to_features(resample(project(grid))))
        finest = maps[0].shape[-2:]
        sizes = [(2 * finest[0], 2 * finest[1])] + [m.shape[-2:] for m in maps[:3]]
        path = self.fusions[3](maps[3], None, sizes[3])
        for level in (2, 1, 0):
            path = self.fusions[level](path, maps[level], sizes[level])
        hidden = _resize(self.head_in(path), out_size)
        out = self.head_out(F.relu(self.head_hidden(hidden)))
        return F.relu(out) if self.final_relu else out
