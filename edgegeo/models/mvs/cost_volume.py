"""The cost volume: metadata → matching score per (plane, pixel), by a small MLP.

``cost_volume="metadata"`` (SimpleRecon): the :func:`~edgegeo.models.mvs.metadata.build_metadata`
vector of every (plane, pixel) goes through an MLP (``F → hidden… → 1``, LeakyReLU between
layers, none after the last) — Linear layers on the channels-last volume, i.e. plain matrix
products. ``cost_volume="dot"``: the plain dot-product volume
(:func:`~edgegeo.models.mvs.metadata.dot_product_volume`), no parameters: the ablation.
``cost_volume="cosine"``: its normalised form
(:func:`~edgegeo.models.mvs.metadata.cosine_volume`), no parameters. ``cost_volume=
"correlation"``: the same score from features normalised before the sweep
(:func:`~edgegeo.models.mvs.metadata.correlation_volume`), no parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import COST_VOLUMES
from .metadata import (build_metadata, correlation_volume, cosine_volume, dot_product_volume,
                       metadata_channels)


class MetadataMLP(nn.Module):
    """``(B, D, h, w, F)`` channels-last metadata → ``(B, D, h, w)`` scores: Linear layers
    ``F → hidden… → 1`` with LeakyReLU (slope 0.01) between them."""

    def __init__(self, in_channels: int, hidden: tuple[int, ...]):
        super().__init__()
        layers, previous = [], in_channels
        for width in hidden:
            layers += [nn.Linear(previous, width), nn.LeakyReLU(0.01, inplace=True)]
            previous = width
        layers.append(nn.Linear(previous, 1))
        self.layers = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, metadata: torch.Tensor) -> torch.Tensor:
        return self.layers(metadata).squeeze(-1)


class CostVolume(nn.Module):
    """Matching score of every depth plane at every reference feature pixel.

    Args:
        mode: one of :data:`~.config.COST_VOLUMES`.
        channels: matching-feature channels C.
        num_sources: S, the sources the metadata MLP expects.
        mlp_hidden: hidden widths of the MLP (metadata mode).

    ``forward(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid=None)``
    takes the arguments of :func:`~edgegeo.models.mvs.metadata.build_metadata` (intrinsics of
    the feature maps) and returns ``(B, D, h, w)``. ``plane_chunk`` (attribute, default None)
    evaluates that many planes at a time when no gradient is needed, bounding memory at
    inference; results are identical.
    """

    def __init__(self, mode: str, channels: int, num_sources: int,
                 mlp_hidden: tuple[int, ...] = (128, 128)):
        super().__init__()
        if mode not in COST_VOLUMES:
            raise ValueError(f"cost volume mode must be one of {COST_VOLUMES}, got {mode!r}")
        self.mode = mode
        self.channels = channels
        self.num_sources = num_sources
        self.plane_chunk: int | None = None
        self.mlp = (MetadataMLP(metadata_channels(channels, num_sources), tuple(mlp_hidden))
                    if mode == "metadata" else None)

    def forward(self, ref_feats: torch.Tensor, src_feats: torch.Tensor, K_ref: torch.Tensor,
                K_src: torch.Tensor, src_T_ref: torch.Tensor, depths: torch.Tensor,
                source_valid: torch.Tensor | None = None) -> torch.Tensor:
        if src_feats.dim() != 5 or src_feats.shape[1] != self.num_sources:
            raise ValueError(f"the cost volume expects {self.num_sources} sources "
                             f"(B, {self.num_sources}, C, h, w), got src_feats "
                             f"{tuple(src_feats.shape)}; pad missing ones with source_valid")
        args = (ref_feats, src_feats, K_ref, K_src, src_T_ref)
        chunk = self.plane_chunk
        if chunk and not torch.is_grad_enabled() and depths.shape[0] > chunk:
            return torch.cat([self._volume(*args, part, source_valid)
                              for part in depths.split(chunk)], dim=1)
        return self._volume(*args, depths, source_valid)

    def _volume(self, ref_feats, src_feats, K_ref, K_src, src_T_ref, depths, source_valid):
        if self.mode == "correlation":
            return correlation_volume(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths,
                                      source_valid)
        if self.mode == "cosine":
            return cosine_volume(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths,
                                 source_valid)
        if self.mode == "dot":
            return dot_product_volume(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths,
                                      source_valid)
        metadata = build_metadata(ref_feats, src_feats, K_ref, K_src, src_T_ref, depths,
                                  source_valid, channels_last=True)
        return self.mlp(metadata)
