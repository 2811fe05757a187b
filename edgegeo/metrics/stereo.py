"""Stereo disparity metrics (Middlebury bad-x, KITTI D1, end-point error).

A predicted disparity is **invalid** where it is non-finite or ≤ 0: 0 is what edgegeo's stereo
methods output for "no match" (the disparity analogue of depth 0; a true disparity of 0 is a
point at infinity, which has no metric depth either), and raw matcher codes such as SGBM's −1
are negative. Invalid predictions always count as errors in bad-x and D1; ``density`` reports
how many there were.
"""
from __future__ import annotations

import numpy as np

BAD_THRESHOLDS_PX = (1.0, 2.0, 3.0)
D1_ABS_PX = 3.0
D1_REL = 0.05


def _fill_along_rows(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill unknown entries of each row from its nearest known neighbours: the smaller of the
    left and right neighbour between two known entries, the single neighbour at a row end.
    Returns ``(filled, known_after)``; rows with no known entry stay unknown."""
    height, width = values.shape
    columns = np.broadcast_to(np.arange(width), (height, width))
    left = np.maximum.accumulate(np.where(known, columns, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, columns, width)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(height)[:, None]
    left_value = values[rows, np.clip(left, 0, width - 1)]
    right_value = values[rows, np.clip(right, 0, width - 1)]
    has_left, has_right = left >= 0, right < width
    neighbour = np.where(has_left & has_right, np.minimum(left_value, right_value),
                         np.where(has_left, left_value, right_value))
    return np.where(known, values, neighbour), known | has_left | has_right


def fill_invalid_disparity(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Background interpolation of invalid disparities, as the KITTI stereo devkit does before
    computing errors.

    Along each row, a run of invalid pixels between two valid ones takes the smaller (farther)
    of the two neighbours' disparities; runs at a row's ends take the nearest valid value. Rows
    with no valid pixel are then filled the same way along columns; with no valid pixel at all
    the result is 0.

    Args:
        disparity: ``(H, W)`` disparity in pixels.
        valid: ``(H, W) bool``, True where ``disparity`` is a real prediction.
    Returns:
        ``(H, W) float64`` disparity with every pixel filled.
    """
    values = np.where(valid, np.asarray(disparity, dtype=np.float64), 0.0)
    filled, known = _fill_along_rows(values, valid)
    if not known.all():
        filled_t, known_t = _fill_along_rows(filled.T, known.T)
        filled = np.where(known_t.T, filled_t.T, 0.0)
    return filled


def stereo_metrics(pred_disp, gt_disp, valid=None) -> dict[str, float]:
    """Disparity errors of the left view over the pixels with ground truth.

    Ground truth is used where ``valid`` (optional) is True and ``gt_disp`` is finite and > 0.
    A prediction is invalid where it is non-finite or ≤ 0 (see the module docstring).

    Args:
        pred_disp: ``(H, W)`` predicted disparity in pixels (invalid: ≤ 0, NaN, inf).
        gt_disp: ``(H, W)`` ground-truth disparity in pixels (0/NaN/inf = none).
        valid: optional ``(H, W) bool`` evaluation mask (e.g. non-occluded pixels).
    Returns:
        dict of floats:
        ``epe`` mean |pred − gt| in pixels, with invalid predictions first filled by
        :func:`fill_invalid_disparity` (KITTI-devkit row-wise background interpolation);
        ``bad1``/``bad2``/``bad3`` percentage (0–100) of pixels with error > 1/2/3 px or an
        invalid prediction; ``d1_all`` KITTI D1 percentage: error > 3 px and > 5 % of gt, or
        invalid; ``density`` percentage of ground-truth pixels with a valid prediction.
    Raises:
        ValueError on shape mismatch, a non-bool mask, or when no ground-truth pixel remains.
    """
    gt = np.asarray(gt_disp, dtype=np.float64)
    pred = np.asarray(pred_disp, dtype=np.float64)
    if gt.ndim != 2 or pred.shape != gt.shape:
        raise ValueError(f"pred_disp {pred.shape} and gt_disp {gt.shape} must be equal (H, W) shapes")
    mask = np.ones(gt.shape, dtype=bool) if valid is None else np.asarray(valid)
    if mask.shape != gt.shape or mask.dtype != bool:
        raise ValueError(f"valid must be a bool array of shape {gt.shape}, got {mask.shape} {mask.dtype}")
    with np.errstate(invalid="ignore"):
        has_gt = mask & np.isfinite(gt) & (gt > 0)
        pred_ok = np.isfinite(pred) & (pred > 0)
    if not has_gt.any():
        raise ValueError("stereo_metrics: no pixel has ground truth")
    g = gt[has_gt]
    ok = pred_ok[has_gt]
    error = np.where(ok, np.abs(np.where(pred_ok, pred, 0.0)[has_gt] - g), np.inf)
    filled_error = np.abs(fill_invalid_disparity(pred, pred_ok)[has_gt] - g)
    metrics = {"epe": float(filled_error.mean())}
    for threshold in BAD_THRESHOLDS_PX:
        metrics[f"bad{threshold:g}"] = float(100.0 * np.mean(error > threshold))
    metrics["d1_all"] = float(100.0 * np.mean((error > D1_ABS_PX) & (error > D1_REL * g)))
    metrics["density"] = float(100.0 * ok.mean())
    return metrics
