"""Checks of a rectified stereo pair shared by every stereo predictor: shapes, and whether the
pair looks rectified and in (left, right) order (ORB matches on the same rows, non-negative
disparity)."""
from __future__ import annotations

import cv2
import numpy as np

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
