"""``MVSNet``: multi-view depth — matching encoder, plane sweep with a cost volume (SimpleRecon's
metadata MLP, or the dot / cosine / correlation volumes), 2-D U-Net to depth at four
scales, optionally a ½-resolution local depth volume around the U-Net's answer and a
full-resolution one around that (:mod:`.refinement`).

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edgegeo.geometry.planesweep import log_depth_planes

from .config import MATCHING_STRIDE, SIZE_MULTIPLE, MVSNetConfig
from .cost_volume import CostVolume
from .features import MatchingEncoder
from .metadata import correlation_volume, geometry_dtype, scale_intrinsics
from .network import MVSDepthNetwork
from .refinement import LocalDepthRefinement


# Channels of the full-resolution local volume's CNN (kept small: it runs on every pixel).
FULL_REFINE_HIDDEN = 16


class MVSNet(nn.Module):
    """Metric depth of a reference view from posed source views.

    ``forward(ref_image, src_images, ref_K, src_K, src_T_ref, source_valid=None)``:

    Args:
        ref_image: ``(B, 3, H, W)`` float RGB in [0, 1]; H, W multiples of 32.
        src_images: ``(B, S, 3, H_s, W_s)`` with ``S = config.num_sources``, any order (the
            cost volume sorts them by pose distance). Usually ``H_s, W_s = H, W``; sources may
            be larger (multiples of 4), e.g. full frames around a reference crop in training.
        ref_K: ``(B, 3, 3)`` intrinsics of the ``H × W`` reference image (pixels).
        src_K: ``(B, S, 3, 3)`` intrinsics of the source images.
        src_T_ref: ``(B, S, 4, 4)`` rigid transforms reference camera → source camera
            (``inv(src_world_T_cam) @ ref_world_T_cam``), metres.
        source_valid: optional ``(B, S)`` bool; False marks padding (fewer real sources).
        hint_depth: optional ``(B, 1, H, W)`` depth hint in metres, 0 = none (``config.hint``
            only: the fused map rendered at the reference pose; None = no hint).
    Returns:
        dict: ``depth`` — list of ``(B, 1, H/s, W/s)`` depth in metres for s = 1, 2, 4, 8,
        each in ``[min_depth, max_depth]``; ``log_depth`` — their natural logs;
        ``cost_volume`` — ``(B, D, H/4, W/4)``; with ``config.decoder == "planes"`` also
        ``volume_logits``, ``plane_logits`` ``(B, D, H/4, W/4)`` and ``confidence``
        ``(B, 1, H/4, W/4)`` (see :class:`~.network.MVSDepthNetwork`); with
        ``config.fine_channels`` also ``local_logits`` ``(B, 2R+1, H/2, W/2)`` and
        ``local_center`` ``(B, 1, H/2, W/2)`` of the ½-resolution local volume
        (:mod:`.refinement`): ``depth[1]`` is its refined depth, and ``depth[0]`` includes
        its change; with ``config.full_channels`` also ``full_logits`` ``(B, 2R'+1, H, W)``
        and ``full_center`` ``(B, 1, H, W)`` of the full-resolution local volume, which
        refines ``depth[0]``. In eval mode the ``planes`` decoder also gives
        ``full_confidence`` ``(B, 1, H, W)`` (``confidence`` bilinearly upsampled), and with
        ``config.min_confidence`` > 0, ``depth[0]`` is 0 where it is below that.
    """

    def __init__(self, config: MVSNetConfig | None = None):
        super().__init__()
        self.config = config = config or MVSNetConfig.small()
        self.matching_encoder = MatchingEncoder(config.matching_channels,
                                                width=max(8, 2 * config.matching_channels),
                                                fine_channels=config.fine_channels,
                                                context_channels=config.matching_context,
                                                full_channels=config.full_channels)
        self.cost_volume = CostVolume(config.cost_volume, config.matching_channels,
                                      config.num_sources, config.mlp_hidden)
        planes = log_depth_planes(config.num_planes, config.min_depth, config.max_depth)
        self.network = MVSDepthNetwork(planes, config.image_channels,
                                       config.cv_channels, config.decoder_channels,
                                       config.decoder, config.hint)
        self.register_buffer("depth_planes", planes, persistent=False)
        log_planes = torch.log(planes)
        plane_step = float(log_planes[1] - log_planes[0])
        log_range = (float(log_planes[0]), float(log_planes[-1]))
        self.local_refine = None
        if config.fine_channels:
            self.local_refine = LocalDepthRefinement(
                config.fine_channels, config.local_radius, config.local_step * plane_step,
                log_range)
        self.full_refine = None
        if config.full_channels:
            self.full_refine = LocalDepthRefinement(
                config.full_channels, config.full_radius, config.full_step * plane_step,
                log_range, hidden=FULL_REFINE_HIDDEN)

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (32)."""
        return SIZE_MULTIPLE

    def forward(self, ref_image: torch.Tensor, src_images: torch.Tensor, ref_K: torch.Tensor,
                src_K: torch.Tensor, src_T_ref: torch.Tensor,
                source_valid: torch.Tensor | None = None,
                hint_depth: torch.Tensor | None = None) -> dict[str, Any]:
        self._check(ref_image, src_images)
        B, S = src_images.shape[:2]
        if src_images.shape[-2:] == ref_image.shape[-2:]:
            # One batched pass for all views (BatchNorm statistics over all of them in training).
            views = torch.cat([ref_image.unsqueeze(1), src_images], dim=1).flatten(0, 1)
            quarter, half, full = self.matching_encoder(views)
            ref_feats, src_feats = _split_views(quarter, B, S)
            ref_fine, src_fine = _split_views(half, B, S)
            ref_full, src_full = _split_views(full, B, S)
        else:
            ref_feats, ref_fine, ref_full = self.matching_encoder(ref_image)
            quarter, half, full = self.matching_encoder(src_images.flatten(0, 1))
            src_feats = quarter.unflatten(0, (B, S))
            src_fine = None if half is None else half.unflatten(0, (B, S))
            src_full = None if full is None else full.unflatten(0, (B, S))
        return self.depth_from_features(ref_image, ref_feats, src_feats, ref_K, src_K,
                                        src_T_ref, source_valid, ref_fine, src_fine,
                                        ref_full, src_full, hint_depth)

    def depth_from_features(self, ref_image: torch.Tensor, ref_feats: torch.Tensor,
                            src_feats: torch.Tensor, ref_K: torch.Tensor, src_K: torch.Tensor,
                            src_T_ref: torch.Tensor, source_valid: torch.Tensor | None = None,
                            ref_fine: torch.Tensor | None = None,
                            src_fine: torch.Tensor | None = None,
                            ref_full: torch.Tensor | None = None,
                            src_full: torch.Tensor | None = None,
                            hint_depth: torch.Tensor | None = None) -> dict[str, Any]:
        """:meth:`forward` with the matching features already computed (so a caller can compute
        each view's features once and reuse them): ``ref_feats (B, C, H/4, W/4)``,
        ``src_feats (B, S, C, H_s/4, W_s/4)``, with ``config.fine_channels`` the ½
        features ``ref_fine (B, C_f, H/2, W/2)``, ``src_fine (B, S, C_f, H_s/2, W_s/2)``, and
        with ``config.full_channels`` the full-resolution ones ``ref_full (B, C_F, H, W)``,
        ``src_full (B, S, C_F, H_s, W_s)``, all from ``matching_encoder``; other arguments as
        :meth:`forward`."""
        self._check(ref_image, None)
        dtype = geometry_dtype(ref_feats)
        scale = 1.0 / MATCHING_STRIDE
        K_ref = scale_intrinsics(ref_K.to(dtype), scale)
        K_src = scale_intrinsics(src_K.to(dtype), scale)
        cost_volume = self.cost_volume(ref_feats, src_feats, K_ref, K_src, src_T_ref.to(dtype),
                                       self.depth_planes, source_valid)
        outputs = self.network(ref_image, cost_volume, hint_depth)
        for stage, refine, ref_f, src_f, names in (
                (self.local_refine, self._refine_half, ref_fine, src_fine, "1/2 resolution: "
                 "pass ref_fine and src_fine"),
                (self.full_refine, self._refine_full, ref_full, src_full, "full resolution: "
                 "pass ref_full and src_full")):
            if stage is None:
                continue
            if ref_f is None or src_f is None:
                raise ValueError(f"this mvs model refines at {names} (matching_encoder)")
            refine(outputs, ref_f, src_f, ref_K.to(dtype), src_K.to(dtype), src_T_ref.to(dtype),
                   source_valid)
        outputs["depth"] = [torch.exp(x) for x in outputs["log_depth"]]
        if "confidence" in outputs and not self.training:
            outputs["full_confidence"] = F.interpolate(
                outputs["confidence"], size=ref_image.shape[-2:], mode="bilinear",
                align_corners=False)
            if self.config.min_confidence:
                keep = outputs["full_confidence"] >= self.config.min_confidence
                outputs["depth"][0] = outputs["depth"][0] * keep.to(outputs["depth"][0].dtype)
        outputs["cost_volume"] = cost_volume
        return outputs

    def _refine_half(self, outputs: dict[str, Any], ref_fine: torch.Tensor,
                     src_fine: torch.Tensor, ref_K: torch.Tensor, src_K: torch.Tensor,
                     src_T_ref: torch.Tensor, source_valid: torch.Tensor | None) -> None:
        """The ½-resolution local volume (:mod:`.refinement`) around the network's ½ log depth:
        replaces ``log_depth[1]`` by the refined one, adds the same change (bilinearly
        upsampled) to the full-resolution ``log_depth[0]``, and stores ``local_logits``
        ``(B, K, H/2, W/2)`` and ``local_center`` ``(B, 1, H/2, W/2)`` (the hypotheses'
        centre, for the loss)."""
        center = outputs["log_depth"][1].detach()
        logits, refined = _local_volume(self.local_refine, center, ref_fine, src_fine,
                                        scale_intrinsics(ref_K, 0.5),
                                        scale_intrinsics(src_K, 0.5), src_T_ref, source_valid)
        change = F.interpolate(refined - center, scale_factor=2.0, mode="bilinear",
                               align_corners=False)
        log_full = (outputs["log_depth"][0] + change).clamp(self.local_refine.log_min,
                                                            self.local_refine.log_max)
        outputs["log_depth"] = [log_full, refined, *outputs["log_depth"][2:]]
        outputs["local_logits"], outputs["local_center"] = logits, center

    def _refine_full(self, outputs: dict[str, Any], ref_full: torch.Tensor,
                     src_full: torch.Tensor, ref_K: torch.Tensor, src_K: torch.Tensor,
                     src_T_ref: torch.Tensor, source_valid: torch.Tensor | None) -> None:
        """The full-resolution local volume around ``log_depth[0]`` (gradient stopped):
        replaces it by the refined log depth and stores ``full_logits`` ``(B, K', H, W)`` and
        ``full_center`` ``(B, 1, H, W)``."""
        center = outputs["log_depth"][0].detach()
        logits, refined = _local_volume(self.full_refine, center, ref_full, src_full, ref_K,
                                        src_K, src_T_ref, source_valid)
        outputs["log_depth"] = [refined, *outputs["log_depth"][1:]]
        outputs["full_logits"], outputs["full_center"] = logits, center

    def _check(self, ref_image: torch.Tensor, src_images: torch.Tensor | None) -> None:
        if ref_image.dim() != 4 or ref_image.shape[1] != 3:
            raise ValueError(f"ref_image must be (B, 3, H, W), got {tuple(ref_image.shape)}")
        H, W = ref_image.shape[-2:]
        if H % SIZE_MULTIPLE or W % SIZE_MULTIPLE:
            raise ValueError(f"image size {H}x{W} must be a multiple of {SIZE_MULTIPLE} in both "
                             "sides")
        if src_images is None:
            return
        expected = (ref_image.shape[0], self.config.num_sources, 3)
        if src_images.dim() != 5 or tuple(src_images.shape[:3]) != expected \
                or src_images.shape[3] % MATCHING_STRIDE or src_images.shape[4] % MATCHING_STRIDE:
            raise ValueError(f"src_images must be (B, S={self.config.num_sources}, 3, H_s, W_s) "
                             f"with B = {expected[0]} and sides multiples of {MATCHING_STRIDE}, "
                             f"got {tuple(src_images.shape)}")


def _local_volume(stage: LocalDepthRefinement, center: torch.Tensor, ref_feats: torch.Tensor,
                  src_feats: torch.Tensor, ref_K: torch.Tensor, src_K: torch.Tensor,
                  src_T_ref: torch.Tensor, source_valid: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One local depth volume: ``stage``'s hypotheses around ``center (B, 1, h, w)`` (log
    depth), scored by correlating ``ref_feats (B, C, h, w)`` with ``src_feats`` at the
    hypotheses (intrinsics already at the features' scale) → ``stage``'s ``(logits, refined
    log depth)``."""
    correlation = correlation_volume(ref_feats, src_feats, ref_K, src_K, src_T_ref,
                                     torch.exp(stage.hypotheses(center)), source_valid)
    return stage(correlation.to(ref_feats.dtype), ref_feats, center)


def _split_views(features: torch.Tensor | None, batch: int, sources: int):
    """``(B·(S+1), C, h, w)`` features of [reference, sources] per sample → reference ``(B, C,
    h, w)`` and sources ``(B, S, C, h, w)`` (None, None for None)."""
    if features is None:
        return None, None
    features = features.unflatten(0, (batch, sources + 1))
    return features[:, 0], features[:, 1:]
