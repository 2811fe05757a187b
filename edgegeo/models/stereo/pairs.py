"""What every stereo predictor does around its network: check a rectified pair (shapes, and
whether it looks rectified and in (left, right) order: ORB matches on the same rows,
non-negative disparity), resize and pad it for the network, and map the output back
(:func:`predict_pair`)."""
from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from edgegeo.limits import check_aspect

from ..common import check_rgb_image

MIN_RECTIFICATION_MATCHES = 20


def check_stereo_pair(left, right) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of ``(H, W, 3) uint8`` RGB images of one size.

    Raises:
        ValueError: either image is not ``(H, W, 3) uint8``, or their sizes differ.
    """
    left, right = check_rgb_image(left), check_rgb_image(right)
    if left.shape != right.shape:
        raise ValueError(f"left {left.shape[:2]} and right {right.shape[:2]} images differ in "
                         f"size; a rectified pair has one size")
    check_aspect(*left.shape[:2], "the stereo pair")
    return left, right


def rectification_problem(left: np.ndarray, right: np.ndarray) -> str | None:
    """What looks wrong with a supposedly rectified pair, or None.

    ORB features are matched (cross-checked) between the two images; in a rectified pair a
    match lies on the same row (vertical offset ≈ 0) and the right match sits left of the left
    one (disparity ≥ 0). Too few matches (textureless images) → no verdict.
    """
    grey_l = cv2.cvtColor(left, cv2.COLOR_RGB2GRAY)
    grey_r = cv2.cvtColor(right, cv2.COLOR_RGB2GRAY)
    orb = cv2.ORB_create(nfeatures=1000)
    keys_l, desc_l = orb.detectAndCompute(grey_l, None)
    keys_r, desc_r = orb.detectAndCompute(grey_r, None)
    if desc_l is None or desc_r is None:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(desc_l, desc_r)
    if len(matches) < MIN_RECTIFICATION_MATCHES:
        return None
    points_l = np.array([keys_l[m.queryIdx].pt for m in matches])
    points_r = np.array([keys_r[m.trainIdx].pt for m in matches])
    dy = np.median(np.abs(points_l[:, 1] - points_r[:, 1]))
    dx = np.median(points_l[:, 0] - points_r[:, 0])
    tolerance = max(1.5, 0.01 * left.shape[0])
    if dy > tolerance:
        return (f"the pair does not look rectified: matched features are {dy:.1f} px apart "
                f"vertically (median of {len(matches)} matches, expected < {tolerance:.1f}); "
                f"rectify it first (cv2.stereoRectify + cv2.remap)")
    if dx < -tolerance:
        return (f"the pair looks swapped: matched features sit {-dx:.1f} px further right in "
                f"the right image (negative disparity); pass (left, right) in that order")
    return None


def predict_pair(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], left, right, *,
                 scale: float, multiple: int, device: torch.device, check_rectification: bool,
                 return_confidence: bool):
    """Run ``predict`` on a rectified pair of numpy images.

    The pair is checked (:func:`check_stereo_pair`, and :func:`rectification_problem` when
    ``check_rectification``), resized by ``scale`` (≤ 1; antialiased bilinear), padded on the
    right and bottom to multiples of ``multiple`` (edge replication) and given to ``predict``
    as two ``(1, 3, h, w)`` float32 RGB [0, 1] tensors on ``device``; its ``(1, 2, h, w)``
    output (disparity in pixels, bounded log-scale ``c``) is cropped, resized back and divided
    by ``scale``.

    Returns:
        ``(H, W) float32`` disparity ≥ 0 in pixels of the left image; with
        ``return_confidence`` also ``(H, W) float32`` confidence ``exp(−c)``.
    Raises:
        ValueError: a bad pair (the message says what is wrong).
    """
    left, right = check_stereo_pair(left, right)
    if check_rectification:
        problem = rectification_problem(left, right)
        if problem:
            raise ValueError(f"{problem} (or pass check_rectification=False)")
    height, width = left.shape[:2]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    padded = (math.ceil(size[0] / multiple) * multiple, math.ceil(size[1] / multiple) * multiple)
    views = []
    for image in (left, right):
        rgb = torch.from_numpy(np.ascontiguousarray(image)).to(device)
        rgb = rgb.permute(2, 0, 1).unsqueeze(0).float() / 255.0
        if size != (height, width):
            rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False,
                                antialias=True).clamp(0.0, 1.0)
        views.append(F.pad(rgb, (0, padded[1] - size[1], 0, padded[0] - size[0]),
                           mode="replicate"))
    out = predict(*views).float()[..., :size[0], :size[1]]
    if size != (height, width):
        out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
    disparity = (out[0, 0] / scale).clamp_min(0.0).cpu().numpy().astype(np.float32)
    if not return_confidence:
        return disparity
    return disparity, torch.exp(-out[0, 1]).cpu().numpy().astype(np.float32)
