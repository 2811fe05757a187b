"""Depth-map metrics: metric depth (SimpleRecon / Eigen protocol) and affine-invariant
relative depth (Depth Anything / MiDaS protocol: least-squares scale and shift in disparity
space per image).

References:

* Eigen et al., "Depth Map Prediction from a Single Image using a Multi-Scale Deep Network",
  NeurIPS 2014.
* Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
  https://github.com/nianticlabs/simplerecon).
* Ranftl et al., "Towards Robust Monocular Depth Estimation: Mixing Datasets for Zero-shot
  Cross-dataset Transfer", TPAMI 2022.
* Yang et al., "Depth Anything: Unleashing the Power of Large-Scale Unlabeled Data", CVPR 2024
  (code: https://github.com/LiheYoung/Depth-Anything).
"""
from __future__ import annotations

import numpy as np

def _as_map(values, name: str, shape: tuple | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.floating)
                               or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be an (H, W) real array, got shape {array.shape} "
                         f"dtype {array.dtype}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape} (as gt)")
    return array.astype(np.float64)


def _as_mask(mask, shape: tuple) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != shape or mask.dtype != bool:
        raise ValueError(f"mask must be a bool array of shape {shape}, got {mask.shape} {mask.dtype}")
    return mask


def gt_depth_valid(gt: np.ndarray, mask=None, min_depth: float = 1e-3,
                   max_depth: float | None = None) -> np.ndarray:
    """Pixels where ground-truth depth is usable: ``mask & finite & min_depth ≤ gt``
    (``& gt ≤ max_depth`` if given). Returns ``(H, W) bool``."""
    gt = _as_map(gt, "gt")
    with np.errstate(invalid="ignore"):
        valid = _as_mask(mask, gt.shape) & np.isfinite(gt) & (gt >= min_depth)
        if max_depth is not None:
            valid &= gt <= max_depth
    return valid


def depth_metrics(pred, gt, mask=None, min_depth: float = 1e-3,
                  max_depth: float | None = None) -> dict[str, float]:
    """Metric depth errors over the pixels with valid ground truth and a valid prediction.

    A pixel counts if ``mask`` (optional) is True, ``gt`` is finite with ``min_depth ≤ gt``
    (``≤ max_depth`` if given) and ``pred`` is finite and > 0 (0 is edgegeo's "no depth").
    Pixels where only the prediction is invalid are left out of the errors and reported by
    ``density``.

    Args:
        pred: ``(H, W)`` predicted depth in metres.
        gt: ``(H, W)`` ground-truth depth in metres (0, NaN or inf = no ground truth).
        mask: optional ``(H, W) bool`` evaluation mask.
        min_depth, max_depth: ground-truth range evaluated, metres.
    Returns:
        dict of floats: ``abs_diff`` mean |p − g| (m), ``abs_rel`` mean |p − g| / g, ``sq_rel``
        mean (p − g)² / g (m), ``rmse`` sqrt mean (p − g)² (m), ``log_rmse`` sqrt mean
        (ln p − ln g)², ``a105`` / ``a110`` / ``a125`` fraction (0–1) of pixels with
        max(p/g, g/p) < 1.05 / 1.10 / 1.25, ``density`` fraction (0–1) of ground-truth pixels
        with a valid prediction.
    Raises:
        ValueError on shape mismatch, a non-bool mask, or when no pixel is valid.
    """
    gt_valid = gt_depth_valid(gt, mask, min_depth, max_depth)
    gt = _as_map(gt, "gt")
    pred = _as_map(pred, "pred", gt.shape)
    with np.errstate(invalid="ignore"):
        valid = gt_valid & np.isfinite(pred) & (pred > 0)
    if not valid.any():
        raise ValueError("depth_metrics: no pixel has both valid ground truth and a valid "
                         f"prediction ({int(gt_valid.sum())} ground-truth pixels)")
    p, g = pred[valid], gt[valid]
    diff = p - g
    ratio = np.maximum(p / g, g / p)
    return {
        "abs_diff": float(np.mean(np.abs(diff))),
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff ** 2 / g)),
        "rmse": float(np.sqrt(np.mean(diff ** 2))),
        "log_rmse": float(np.sqrt(np.mean((np.log(p) - np.log(g)) ** 2))),
        "a105": float(np.mean(ratio < 1.05)),
        "a110": float(np.mean(ratio < 1.10)),
        "a125": float(np.mean(ratio < 1.25)),
        "density": float(valid.sum() / gt_valid.sum()),
    }


def align_scale_shift(pred, target, mask=None) -> tuple[float, float]:
    """Least-squares ``(scale, shift)`` minimising ``Σ (scale · pred + shift − target)²`` over
    ``mask`` (and the pixels where both are finite).

    Args:
        pred, target: ``(H, W)`` arrays (any units; target units come out).
        mask: optional ``(H, W) bool``.
    Returns:
        ``(scale, shift)`` floats.
    Raises:
        ValueError with fewer than 2 usable pixels or a constant ``pred`` (no unique solution).
    """
    target = _as_map(target, "target")
    pred = _as_map(pred, "pred", target.shape)
    use = _as_mask(mask, target.shape) & np.isfinite(pred) & np.isfinite(target)
    p, t = pred[use], target[use]
    if p.size < 2:
        raise ValueError(f"align_scale_shift needs at least 2 pixels, got {p.size}")
    p_mean, t_mean = p.mean(), t.mean()
    variance = np.mean((p - p_mean) ** 2)
    if variance <= 1e-12 * max(p_mean ** 2, 1e-300):
        raise ValueError("align_scale_shift: pred is constant over the mask, scale is undefined")
    scale = np.mean((p - p_mean) * (t - t_mean)) / variance
    return float(scale), float(t_mean - scale * p_mean)


def relative_depth_metrics(pred_disparity, gt_depth, mask=None, min_depth: float = 1e-3,
                           max_depth: float | None = None) -> dict[str, float]:
    """Depth metrics of an affine-invariant disparity prediction (mono relative depth).

    Per image: ``scale, shift = align_scale_shift(pred_disparity, 1 / gt_depth)`` over the valid
    pixels, aligned disparity ``s · pred + t`` clamped below at ``1 / max_depth`` (or, without
    ``max_depth``, ``1 /`` the largest valid ground-truth depth — the evaluation range cap),
    depth = 1 / aligned disparity, then :func:`depth_metrics`.

    Args:
        pred_disparity: ``(H, W)`` relative disparity (larger = nearer), any scale and shift.
        gt_depth: ``(H, W)`` ground-truth depth in metres (0/NaN/inf = none).
        mask: optional ``(H, W) bool``.
        min_depth, max_depth: ground-truth range evaluated, metres.
    Returns:
        The :func:`depth_metrics` dict plus ``scale`` and ``shift`` of the alignment.
    Raises:
        ValueError as :func:`depth_metrics` and :func:`align_scale_shift`.
    """
    gt = _as_map(gt_depth, "gt_depth")
    pred = _as_map(pred_disparity, "pred_disparity", gt.shape)
    valid = gt_depth_valid(gt, mask, min_depth, max_depth) & np.isfinite(pred)
    if not valid.any():
        raise ValueError("relative_depth_metrics: no pixel has valid ground truth and a finite "
                         "prediction")
    gt_disparity = np.zeros_like(gt)
    gt_disparity[valid] = 1.0 / gt[valid]
    scale, shift = align_scale_shift(pred, gt_disparity, valid)
    floor = 1.0 / (max_depth if max_depth is not None else gt[valid].max())
    aligned = np.maximum(scale * np.where(valid, pred, 0.0) + shift, floor)
    metrics = depth_metrics(1.0 / aligned, gt, valid, min_depth, max_depth)
    metrics.update(scale=scale, shift=shift)
    return metrics
