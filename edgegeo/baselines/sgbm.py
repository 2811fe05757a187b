"""Semi-global block matching (OpenCV ``StereoSGBM``), the classical stereo baseline.

Default parameters are fixed a priori, from OpenCV's documentation and samples, not tuned on any
evaluation image: 5×5 blocks, smoothness penalties ``P1 = 8·3·b²`` and ``P2 = 32·3·b²`` (3 =
colour channels), uniqueness ratio 10 %, left-right check 1 px, speckle filter (regions under
100 px whose disparity varies by more than 2 px are removed), OpenCV's fast 3-way mode. The
pair is padded on the left before matching (``pad_left``), because OpenCV otherwise leaves the
first ``num_disparities`` columns unmatched: on Motorcycle that is 11 % of the ground-truth
pixels (unpadded: bad-2 20.7 %, density 84.6 %; padded: bad-2 12.4 %, density 93.3 %).

:data:`SWEEP_GRID` is the small grid ``edgegeo eval stereo --baseline sgbm --sweep`` searches on
Middlebury Motorcycle (selection by bad-2); :data:`TUNED_ON_MOTORCYCLE` is its winner. Being
tuned on the evaluation image itself, that row is optimistic and reported beside the defaults,
never instead of them.
"""
from __future__ import annotations

import cv2
import numpy as np

MODES = {
    "sgbm": cv2.STEREO_SGBM_MODE_SGBM,        # 5 directions, single pass
    "hh": cv2.STEREO_SGBM_MODE_HH,            # full 8 directions, two passes (more memory)
    "3way": cv2.STEREO_SGBM_MODE_SGBM_3WAY,   # OpenCV's faster, parallel 3-way variant
    "hh4": cv2.STEREO_SGBM_MODE_HH4,          # 4 directions
}
SWEEP_GRID = {
    "block_size": [3, 5, 7, 9],
    "mode": ["3way", "hh"],
    "uniqueness_ratio": [5, 10],
    "speckle_window_size": [0, 100],
}
TUNED_ON_MOTORCYCLE = {"block_size": 5, "mode": "3way", "uniqueness_ratio": 5,
                       "speckle_window_size": 0}


def sgbm_disparity(left: np.ndarray, right: np.ndarray, num_disparities: float | None = None,
                   block_size: int = 5, min_disparity: int = 0, mode: str = "3way",
                   uniqueness_ratio: int = 10, speckle_window_size: int = 100,
                   speckle_range: int = 2, disp12_max_diff: int = 1,
                   pre_filter_cap: int = 63, pad_left: bool = True) -> np.ndarray:
    """Left-view disparity of a rectified pair by OpenCV StereoSGBM.

    Args:
        left, right: ``(H, W, 3) uint8`` RGB rectified images of equal size.
        num_disparities: width of the disparity search in pixels, rounded up to a multiple of
            16; default ``W / 4``.
        block_size: odd matching block side in pixels (sets ``P1 = 8·3·b²``, ``P2 = 32·3·b²``).
        min_disparity: smallest disparity searched, pixels.
        mode: one of :data:`MODES` ("3way", "sgbm", "hh", "hh4").
        uniqueness_ratio: percent margin the best cost must beat the second best by.
        speckle_window_size: largest speckle region removed, pixels (0 disables the filter).
        speckle_range: disparity variation (pixels) within a connected region.
        disp12_max_diff: left-right consistency tolerance in pixels (−1 disables the check).
        pre_filter_cap: clip of the x-derivative prefilter.
        pad_left: OpenCV leaves the leftmost ``min_disparity + num_disparities`` columns without
            a match; with True (default) both images are first padded on the left by that many
            columns (edge pixels replicated) and the padding is cropped from the result, so
            those columns are matched over the disparities that stay inside the right image.
    Returns:
        ``(H, W) float32`` disparity in pixels (1/16 px steps); ``0`` where SGBM found no
        match (``edgegeo.metrics.stereo`` counts these as invalid).
    Raises:
        ValueError on mismatched or non-RGB-uint8 images, or bad parameters.
    """
    for name, image in (("left", left), ("right", right)):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{name} must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if left.shape != right.shape:
        raise ValueError(f"left {left.shape} and right {right.shape} must have the same size")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    if block_size < 1 or block_size % 2 == 0:
        raise ValueError(f"block_size must be odd and >= 1, got {block_size}")
    search = left.shape[1] / 4 if num_disparities is None else num_disparities
    if not search > 0:
        raise ValueError(f"num_disparities must be > 0, got {num_disparities}")
    search = int(16 * np.ceil(search / 16))
    matcher = cv2.StereoSGBM_create(
        minDisparity=min_disparity, numDisparities=search, blockSize=block_size,
        P1=8 * 3 * block_size ** 2, P2=32 * 3 * block_size ** 2, disp12MaxDiff=disp12_max_diff,
        preFilterCap=pre_filter_cap, uniquenessRatio=uniqueness_ratio,
        speckleWindowSize=speckle_window_size, speckleRange=speckle_range, mode=MODES[mode])
    pad = min_disparity + search if pad_left else 0
    if pad > 0:
        left, right = (cv2.copyMakeBorder(image, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
                       for image in (left, right))
    raw = matcher.compute(left, right)[:, pad:]  # int16 disparity × 16; (min_disparity − 1) × 16 = none
    disparity = raw.astype(np.float32) / 16.0
    disparity[raw < min_disparity * 16] = 0.0
    return disparity
