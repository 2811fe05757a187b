"""The ``stereo`` recipe's loss: every level supervised (deep supervision, as in StereoNet and
AnyNet), the coarse cost volume directly.

- Smooth-L1 of each level's disparity (⅛, ¼, ½, full; with the full-resolution stage also
  its input ``d1``), bilinearly resized to the GT and in GT
  pixels, over the pixels with GT below the network's ``max_disparity``.
- Cross-entropy of the ⅛ probability volume against the GT spread over its two nearest shifts
  (so matching features learn from the first step, and the soft-argmin sees one mode).
- Optionally (``local_weight``) the same for the warped local volumes at ¼ and ½: their
  offset logits against the GT residual, where it lies within their radius.
- With candidate propagation, the cross-entropy of each level's candidate logits against a
  soft target that favours the candidates nearest the GT (``softmax(−|candidate − GT|)``,
  level pixels): which neighbour to trust is taught directly, as the coarse volume is.
- The confidence: the Laplacian negative log-likelihood ``|d − d_gt|·exp(−c) + c`` with the
  disparity detached (it trains ``c`` only, never pulls the disparity).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LEVEL_WEIGHTS = {"d8": 0.5, "d4": 0.7, "d2": 0.85, "d1": 0.9, "disparity": 1.0}
LEVEL_FACTORS = {"d8": 8, "d4": 4, "d2": 2, "d1": 1, "disparity": 1}
VOLUME_WEIGHT = 0.5
SELECTION_WEIGHT = 0.5
SELECTION_TEMPERATURE = 1.0
CONFIDENCE_WEIGHT = 0.2


def two_hot_cross_entropy(logits: torch.Tensor, position: torch.Tensor, mask: torch.Tensor
                          ) -> torch.Tensor:
    """Cross-entropy of ``logits (B, K, h, w)`` against the target ``position (B, 1, h, w)``
    (fractional index into the ``K`` bins) split linearly between its two nearest bins, over
    ``mask (B, 1, h, w)`` bool (positions outside ``[0, K−1)`` are left out)."""
    bins = logits.shape[1]
    mask = mask & (position >= 0) & (position < bins - 1)
    if not mask.any():
        return logits.sum() * 0.0
    low = position.floor().clamp(0, bins - 2)
    upper = (position - low).clamp(0, 1)
    log_probs = F.log_softmax(logits.float(), 1)
    picked = (torch.gather(log_probs, 1, low.long()) * (1 - upper)
              + torch.gather(log_probs, 1, low.long() + 1) * upper)
    return -picked[mask].mean()


def at_level(full: torch.Tensor, factor: int) -> torch.Tensor:
    """``(B, 1, H, W)`` full-resolution map → its value at each level cell ``(B, 1, H/f,
    W/f)`` (the pixel at the cell's centre, rounded down)."""
    return full[..., factor // 2::factor, factor // 2::factor]


def volume_cross_entropy(logits8: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
                         ) -> torch.Tensor:
    """Cross-entropy of ``logits8 (B, D, h, w)`` against ``target (B, 1, 8h, 8w)`` pixels,
    sampled at each ⅛ cell's centre and linearly split between its two nearest shifts; ``mask``
    ``(B, 1, 8h, 8w)`` bool."""
    return two_hot_cross_entropy(logits8, at_level(target, 8) / 8.0, at_level(mask, 8))


def local_cross_entropy(logits: torch.Tensor, base: torch.Tensor, target: torch.Tensor,
                        mask: torch.Tensor, factor: int) -> torch.Tensor:
    """Cross-entropy of a local volume's offset logits ``(B, 2R+1, h, w)`` (tap ``k`` = the
    disparity ``base + k − R``, level pixels) against ``target (B, 1, fh, fw)`` full-resolution
    pixels, at the cells whose GT lies within ``R`` of ``base (B, 1, h, w)``."""
    radius = (logits.shape[1] - 1) // 2
    position = at_level(target, factor) / factor - base.detach().float() + radius
    return two_hot_cross_entropy(logits, position, at_level(mask, factor))


def selection_cross_entropy(logits: torch.Tensor, candidates: torch.Tensor, target: torch.Tensor,
                            mask: torch.Tensor, factor: int) -> torch.Tensor:
    """Cross-entropy of candidate ``logits (B, K, h, w)`` against ``softmax(−|candidates −
    GT| / T)`` (``candidates (B, K, h, w)`` level pixels, ``T`` =
    :data:`SELECTION_TEMPERATURE`), ``target (B, 1, fh, fw)`` full-resolution pixels, over
    ``mask (B, 1, fh, fw)`` bool sampled at the level's cells."""
    cells = at_level(mask, factor)
    if not cells.any():
        return logits.sum() * 0.0
    distance = (candidates.detach().float() - at_level(target, factor) / factor).abs()
    wanted = torch.softmax(-distance / SELECTION_TEMPERATURE, 1)
    per_cell = -(wanted * F.log_softmax(logits.float(), 1)).sum(1, keepdim=True)
    return per_cell[cells].mean()


def stereo_loss(out: dict[str, torch.Tensor], target: torch.Tensor, valid: torch.Tensor,
                max_disparity: float, local_weight: float = 0.0
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss and its named parts for one batch.

    Args:
        out: ``CostVolumeStereo(..., intermediates=True)``.
        target: ``(B, 1, H, W)`` GT disparity, pixels. valid: ``(B, 1, H, W)`` bool.
        max_disparity: the network's range; GT at or above it is not supervised.
        local_weight: weight of each local volume's cross-entropy (¼ and ½ levels; logged
            either way).
    """
    mask = valid & (target < max_disparity)
    size = target.shape[-2:]
    parts: dict[str, torch.Tensor] = {}
    total = target.new_zeros(())
    full = None
    for name, weight in LEVEL_WEIGHTS.items():
        if name not in out:
            continue
        prediction = out[name].float() * LEVEL_FACTORS[name]
        if prediction.shape[-2:] != size:
            prediction = F.interpolate(prediction, size=size, mode="bilinear",
                                       align_corners=False)
        full = prediction
        error = F.smooth_l1_loss(prediction[mask], target[mask]) if mask.any() \
            else prediction.sum() * 0.0
        parts[f"sl1_{name}"] = error.detach()
        total = total + weight * error
    volume = volume_cross_entropy(out["logits8"], target, mask)
    log_scale = out["log_scale"].float()
    laplace = ((full.detach() - target).abs() * torch.exp(-log_scale) + log_scale)[mask].mean() \
        if mask.any() else log_scale.sum() * 0.0
    parts.update(volume_ce=volume.detach(), confidence_nll=laplace.detach())
    total = total + VOLUME_WEIGHT * volume + CONFIDENCE_WEIGHT * laplace
    for level, factor in ((4, 4), (2, 2)):
        local = local_cross_entropy(out[f"logits{level}"], out[f"base{level}"], target, mask,
                                    factor)
        parts[f"local_ce{level}"] = local.detach()
        if local_weight:
            total = total + local_weight * local
        if f"select_logits{level}" in out:
            selection = selection_cross_entropy(out[f"select_logits{level}"],
                                                out[f"candidates{level}"], target, mask, factor)
            parts[f"select_ce{level}"] = selection.detach()
            total = total + SELECTION_WEIGHT * selection
    with torch.no_grad():
        error = (full - target).abs()[mask]
        parts["epe"] = error.mean() if error.numel() else error.new_zeros(())
        parts["bad2"] = 100.0 * (error > 2).float().mean() if error.numel() else error.new_zeros(())
    return total, parts
