"""Losses of the Depth Anything recipe (Yang et al., CVPR 2024) and MiDaS's gradient matching
(Ranftl et al., TPAMI 2022).

All maps are ``(B, 1, H, W)`` or ``(B, H, W)`` float tensors; masks are bool tensors of the
same shape (True = pixel used). Losses are returned per image, ``(B,)``, so callers can weight
images (CutMix) before averaging.

References:

* Yang et al., "Depth Anything: Unleashing the Power of Large-Scale Unlabeled Data", CVPR 2024
  (code: https://github.com/LiheYoung/Depth-Anything).
* Ranftl et al., "Towards Robust Monocular Depth Estimation: Mixing Datasets for Zero-shot
  Cross-dataset Transfer", TPAMI 2022.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

FEATURE_MARGIN = 0.85   # α of Depth Anything: patches already this similar are left alone
NORM_EPS = 1e-6         # floor of the mean absolute deviation (a flat map stays finite)


def _flat(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4:
        if x.shape[1] != 1:
            raise ValueError(f"expected (B, 1, H, W) maps, got {tuple(x.shape)}")
        return x.flatten(1)
    if x.dim() in (2, 3):          # (B, N) already flat, or (B, H, W)
        return x.flatten(1)
    raise ValueError(f"expected (B, 1, H, W) or (B, H, W) maps, got {tuple(x.shape)}")


def normalize_disparity(disparity: torch.Tensor, mask: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """MiDaS scale-and-shift normalisation, per image over its valid pixels:
    ``d̂ = (d − median(d)) / mean(|d − median(d)|)``.

    Args:
        disparity: ``(B, 1, H, W)`` or ``(B, H, W)`` float.
        mask: bool of the same shape, or None (all pixels).
    Returns:
        ``(B, N)`` float, ``N = H·W``: the normalised values (invalid pixels are 0).
    """
    d = _flat(disparity)
    m = torch.ones_like(d, dtype=torch.bool) if mask is None else _flat(mask).bool()
    if m.shape != d.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match {tuple(disparity.shape)}")
    nan = torch.full_like(d, float("nan"))
    median = torch.nanmedian(torch.where(m, d, nan), dim=1, keepdim=True).values
    median = torch.nan_to_num(median, nan=0.0)                  # images with no valid pixel
    centred = torch.where(m, d - median, torch.zeros_like(d))
    count = m.sum(1, keepdim=True).clamp_min(1)
    scale = centred.abs().sum(1, keepdim=True) / count
    return centred / scale.clamp_min(NORM_EPS)


def affine_invariant_loss(pred: torch.Tensor, target: torch.Tensor,
                          mask: torch.Tensor | None = None) -> torch.Tensor:
    """The MiDaS shift- and scale-invariant L1 loss, per image.

    Both maps are normalised by :func:`normalize_disparity` over the pixels of ``mask``; the
    loss is the mean ``|d̂_pred − d̂_target|`` over those pixels. Invariant to ``a·pred + b``
    for any ``a > 0`` (and to the same for ``target``), zero when ``pred`` equals ``target``
    up to such a map.

    Args:
        pred: ``(B, 1, H, W)`` predicted disparity.
        target: same shape, target disparity (GT ``1/depth`` or a teacher's pseudo-label).
        mask: bool, same shape, True where the target is valid; None = all pixels.
    Returns:
        ``(B,)`` float; 0 for an image without valid pixels.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    m = torch.ones_like(_flat(pred), dtype=torch.bool) if mask is None else _flat(mask).bool()
    error = (normalize_disparity(pred, m) - normalize_disparity(target.to(pred.dtype), m)).abs()
    return (error * m).sum(1) / m.sum(1).clamp_min(1)


def gradient_matching_loss(pred: torch.Tensor, target: torch.Tensor,
                           mask: torch.Tensor | None = None, scales: int = 4) -> torch.Tensor:
    """MiDaS's multi-scale gradient-matching loss, per image.

    Both maps are normalised as in :func:`affine_invariant_loss`; on the residual
    ``R = d̂_pred − d̂_target`` the loss is ``Σ_k mean(|∂x R_k| + |∂y R_k|)`` over ``scales``
    levels (level k keeps every 2^k-th pixel), each mean over the pixel pairs valid at both
    ends. It rewards sharp, correctly placed depth edges (the L1 loss alone blurs them).

    Args:
        pred, target: ``(B, 1, H, W)`` disparity maps; mask: bool of the same shape or None.
        scales: number of levels (≥ 1).
    Returns:
        ``(B,)`` float.
    """
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must be "
                         "equal (B, 1, H, W) maps")
    if scales < 1:
        raise ValueError(f"scales must be >= 1, got {scales}")
    m = torch.ones_like(pred, dtype=torch.bool) if mask is None else mask.bool()
    residual = (normalize_disparity(pred, m) - normalize_disparity(target.to(pred.dtype), m))
    residual = residual.view_as(pred)
    total = torch.zeros(pred.shape[0], dtype=pred.dtype, device=pred.device)
    for level in range(scales):
        step = 2 ** level
        r, v = residual[..., ::step, ::step], m[..., ::step, ::step]
        vx, vy = v[..., :, 1:] & v[..., :, :-1], v[..., 1:, :] & v[..., :-1, :]
        gx = (r[..., :, 1:] - r[..., :, :-1]).abs() * vx
        gy = (r[..., 1:, :] - r[..., :-1, :]).abs() * vy
        count = (vx.flatten(1).sum(1) + vy.flatten(1).sum(1)).clamp_min(1)
        total = total + (gx.flatten(1).sum(1) + gy.flatten(1).sum(1)) / count
    return total


def cutmix_affine_invariant_loss(pred: torch.Tensor, target_outside: torch.Tensor,
                                 target_inside: torch.Tensor, box: torch.Tensor,
                                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """Affine-invariant loss of CutMix images: each region against its own pseudo-label.

    A CutMix image shows image *a* outside ``box`` and image *b* inside; the loss is
    ``area_out · L(pred, target_a | outside) + area_in · L(pred, target_b | inside)`` with
    each region normalised on its own (:func:`affine_invariant_loss` restricted to the region)
    and the areas as fractions of the (valid) image. An image whose box is empty reduces to
    the plain loss against ``target_outside``.

    Args:
        pred: ``(B, 1, H, W)`` the student's prediction on the mixed image.
        target_outside, target_inside: ``(B, 1, H, W)`` pseudo-labels of images a and b.
        box: ``(B, 1, H, W)`` bool, True inside the pasted box.
        mask: optional bool validity of the targets, same shape.
    Returns:
        ``(B,)`` float.
    """
    box = box.bool()
    valid = torch.ones_like(box) if mask is None else mask.bool()
    inside, outside = valid & box, valid & ~box
    n_in = _flat(inside).sum(1).float()
    n_out = _flat(outside).sum(1).float()
    total = (n_in + n_out).clamp_min(1)
    loss_out = affine_invariant_loss(pred, target_outside, outside)
    loss_in = affine_invariant_loss(pred, target_inside, inside)
    return (n_out / total) * loss_out + (n_in / total) * loss_in


def feature_alignment_loss(student: torch.Tensor, frozen: torch.Tensor,
                           margin: float = FEATURE_MARGIN) -> torch.Tensor:
    """Depth Anything's feature alignment with a tolerance margin, per image.

    ``1 − cos(f_student, f_frozen)`` per patch, averaged over the patches whose cosine is
    still below ``margin`` (α); patches already more similar than α contribute nothing (and
    no gradient), so the student may keep depth-specific differences. ``frozen`` is detached.

    Args:
        student: ``(B, N, C)`` student tokens (N patches).
        frozen: ``(B, N, C)`` tokens of the frozen encoder on the same image.
        margin: α in [-1, 1]; 1 keeps every patch.
    Returns:
        ``(B,)`` float; 0 for an image whose patches all exceed the margin.
    """
    if student.shape != frozen.shape or student.dim() != 3:
        raise ValueError(f"student {tuple(student.shape)} and frozen {tuple(frozen.shape)} "
                         f"must be equal (B, N, C) token sets")
    cosine = F.cosine_similarity(student, frozen.detach().to(student.dtype), dim=-1)  # (B, N)
    keep = (cosine < margin).detach()
    return ((1.0 - cosine) * keep).sum(1) / keep.sum(1).clamp_min(1)
