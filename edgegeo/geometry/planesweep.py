"""Plane sweep over fronto-parallel planes of the reference camera (torch, batched).

Each plane is the set of reference-frame points with constant z = d; its pixels are
``d · K_ref⁻¹ [u, v, 1]``. Sampling a source view on every plane gives the (B, C, D, H, W)
volume that a matching cost (SimpleRecon, DeepVideoMVS) is built from.
"""
import math

import torch
import torch.nn.functional as F

from edgegeo.checks import positive_int, positive_scalar
from ._torch_checks import check_K_tensor, check_tensor
from .warp import grid_hw, grid_size, pixel_rays, pixel_to_grid, project_to_pixels


def log_depth_planes(n: int = 64, d_min: float = 0.25, d_max: float = 5.0) -> torch.Tensor:
    """Depths of ``n`` planes log-spaced from ``d_min`` to ``d_max`` inclusive.

    Args:
        n: number of planes, ≥ 2.
        d_min, d_max: nearest and farthest plane in metres, 0 < d_min < d_max.
    Returns:
        (n,) float32 increasing depths in metres (first = d_min, last = d_max).
    """
    n = positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 to include both d_min and d_max, got {n}")
    d_min = positive_scalar(d_min, "d_min")
    d_max = positive_scalar(d_max, "d_max")
    if d_max <= d_min:
        raise ValueError(f"d_max must be > d_min, got d_min={d_min}, d_max={d_max}")
    log_depths = torch.linspace(math.log(d_min), math.log(d_max), n, dtype=torch.float64)
    depths = torch.exp(log_depths)
    depths[0], depths[-1] = d_min, d_max
    return depths.to(torch.float32)


def _check_depths(depths) -> torch.Tensor:
    """(D,) finite positive plane depths; ValueError otherwise."""
    check_tensor(depths, "depths", (None,))
    if depths.numel() == 0:
        raise ValueError("depths must contain at least one plane")
    if not bool(torch.isfinite(depths).all()) or bool((depths <= 0).any()):
        raise ValueError("depths must be finite and > 0 (metres)")
    return depths


def plane_sweep_pixels(K_ref: torch.Tensor, K_src: torch.Tensor, src_T_ref: torch.Tensor,
                       depths: torch.Tensor, H: int, W: int,
                       src_hw: tuple[int, int] | None = None):
    """:func:`plane_sweep_grid` in source pixel coordinates, ``u`` and ``v`` apart.

    Arguments as :func:`plane_sweep_grid`. Returns:
        u, v: (B, D, H, W) source pixel coordinates of each plane point (centre of pixel
            (0, 0) at (0, 0)).
        src_depth, valid: as :func:`plane_sweep_grid`.
    """
    H, W = grid_size(H, "H"), grid_size(W, "W")
    H_src, W_src = (H, W) if src_hw is None else grid_hw(src_hw, "src_hw")
    check_tensor(K_ref, "K_ref", (None, 3, 3))
    B = K_ref.shape[0]
    if depths.dim() == 1:
        depths = _check_depths(depths)
        D = depths.shape[0]
        per_point = depths.reshape(1, 1, D, 1)
    else:
        check_tensor(depths, "depths", (B, None, H, W))
        D = depths.shape[1]
        per_point = depths.reshape(B, 1, D, H * W)
    rays = pixel_rays(check_K_tensor(K_ref, "K_ref", B, like=depths), H, W)      # (B, 3, HW)
    points_ref = rays.unsqueeze(2) * per_point                                 # (B, 3, D, HW)
    u, v, src_depth, valid = project_to_pixels(points_ref.reshape(B, 3, D * H * W), K_src,
                                               src_T_ref, (H_src, W_src))
    return tuple(t.reshape(B, D, H, W) for t in (u, v, src_depth, valid))


def plane_sweep_grid(K_ref: torch.Tensor, K_src: torch.Tensor, src_T_ref: torch.Tensor,
                     depths: torch.Tensor, H: int, W: int,
                     src_hw: tuple[int, int] | None = None):
    """Where each reference pixel on each depth plane lands in the source view.

    Args:
        K_ref: (B, 3, 3) reference intrinsics (for the H×W reference grid).
        K_src: (B, 3, 3) source intrinsics (for the source image of size ``src_hw``).
        src_T_ref: (B, 4, 4) rigid transform reference camera → source camera.
        depths: (D,) plane depths in metres (> 0) along the reference optical axis, or
            ``(B, D, H, W)`` per-pixel depth hypotheses (metres, > 0; not checked: a network's
            output, e.g. a local volume around an estimate).
        H, W: reference grid size.
        src_hw: (Hs, Ws) source image size, ≥ 2 each; defaults to (H, W).
        (All tensors are cast to ``depths``' dtype and device.)
    Returns:
        grid: (B, D, H, W, 2) source coordinates normalised for
            ``grid_sample(align_corners=True)``.
        src_depth: (B, D, H, W) z-depth of each plane point in the source camera (metres).
        valid: (B, D, H, W) bool, point in front of the source and inside its image.
    """
    H_src, W_src = (H, W) if src_hw is None else grid_hw(src_hw, "src_hw")
    u, v, src_depth, valid = plane_sweep_pixels(K_ref, K_src, src_T_ref, depths, H, W,
                                                (H_src, W_src))
    grid = pixel_to_grid(torch.stack([u, v], dim=-1), H_src, W_src)
    return grid, src_depth, valid


def plane_sweep_warp(src_feats: torch.Tensor, K_ref: torch.Tensor, K_src: torch.Tensor,
                     src_T_ref: torch.Tensor, depths: torch.Tensor, H: int, W: int):
    """Sample source features on every fronto-parallel reference plane.

    Args:
        src_feats: (B, C, Hs, Ws) float source features (Hs, Ws ≥ 2).
        K_ref: (B, 3, 3) intrinsics of the H×W reference grid.
        K_src: (B, 3, 3) intrinsics of the source feature map.
        src_T_ref: (B, 4, 4) rigid transform reference camera → source camera.
        depths: (D,) plane depths in metres (> 0).
        H, W: reference grid size.
    Returns:
        volume: (B, C, D, H, W) bilinearly sampled features, 0 where not valid.
        valid: (B, D, H, W) bool, point in front of the source and inside its image.
    """
    check_tensor(src_feats, "src_feats", (None, None, None, None))
    B, C, H_src, W_src = src_feats.shape
    check_tensor(K_ref, "K_ref", (B, 3, 3))
    depths = _check_depths(depths).to(dtype=src_feats.dtype, device=src_feats.device)
    grid, _, valid = plane_sweep_grid(K_ref, K_src, src_T_ref, depths, H, W,
                                      src_hw=(H_src, W_src))
    D = depths.shape[0]
    sampled = F.grid_sample(src_feats, grid.reshape(B, D * H, W, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=True)
    volume = sampled.reshape(B, C, D, H, W)
    return volume * valid.unsqueeze(1).to(volume.dtype), valid
