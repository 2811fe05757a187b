"""Losses of the ``croco`` and ``stereo`` recipes (CroCo and CroCo-Stereo, Weinzaepfel et al.,
NeurIPS 2022 and ICCV 2023).

References:

* Weinzaepfel et al., "CroCo: Self-Supervised Pre-training for 3D Vision Tasks by Cross-View
  Completion", NeurIPS 2022.
* Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching
  and Optical Flow", ICCV 2023 (code: https://github.com/naver/croco).
"""
from __future__ import annotations

import torch

PATCH_NORM_EPS = 1e-6


def normalised_patches(patches: torch.Tensor) -> torch.Tensor:
    """Each patch minus its mean over ``sqrt(var + 1e-6)`` (unbiased variance, as MAE/CroCo).

    Args:
        patches: ``(B, N, P)`` pixels of ``N`` patches of ``P`` values.
    """
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + PATCH_NORM_EPS).sqrt()


def masked_patch_loss(prediction: torch.Tensor, target_patches: torch.Tensor,
                      visible: torch.Tensor) -> torch.Tensor:
    """CroCo's reconstruction loss: MSE to per-patch normalised pixels, over masked patches.

    Args:
        prediction: ``(B, N, P)`` predicted (normalised) pixels of every view-1 patch.
        target_patches: ``(B, N, P)`` view-1 pixels.
        visible: ``(B, n)`` int64 indices of the patches the encoder saw (excluded).
    Returns:
        scalar: mean over masked patches of the per-patch mean squared error.
    """
    if prediction.shape != target_patches.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target "
                         f"{tuple(target_patches.shape)} differ in shape")
    per_patch = (prediction - normalised_patches(target_patches)).pow(2).mean(dim=-1)  # (B, N)
    masked = torch.ones_like(per_patch, dtype=torch.bool).scatter(1, visible, False)
    return per_patch[masked].mean()


def laplacian_loss(disparity: torch.Tensor, log_scale: torch.Tensor, target: torch.Tensor,
                   valid: torch.Tensor) -> torch.Tensor:
    """CroCo-Stereo's Laplacian negative log-likelihood with bounded confidence:
    ``|d − d_gt|·exp(−c) + c`` averaged over pixels with GT.

    Args:
        disparity, log_scale, target: ``(B, 1, H, W)`` float32; ``c`` = ``log_scale`` (bounded
            by the model to (−3, 3)); disparities in pixels.
        valid: ``(B, 1, H, W)`` bool, pixels with GT.
    """
    if not valid.any():
        return disparity.sum() * 0.0
    nll = (disparity - target).abs() * torch.exp(-log_scale) + log_scale
    return nll[valid].mean()
