"""What the ``stereo`` entry of :data:`~.specs.EXPORT_SPECS` needs about ``StereoNet``.

The graph is the network itself: ``left``, ``right`` ``(1, 3, H, W)`` float32 RGB in [0, 1]
(H, W multiples of the patch size) → ``disparity_confidence`` ``(1, 2, H, W)``: disparity of
the left view in pixels and the bounded log-scale ``c`` (confidence ``exp(−c)``). It runs at
the predictor's tile size (96×160, the training crop).

``StereoPredictor`` calls the network with batches of up to 8 tiles; the runtime network runs
the batch-1 graph once per tile (``RuntimeNetwork.run_all``) rather than the graph taking a
dynamic batch axis: every exported graph, its calibration, its parity checks and its TensorRT
profile stay batch 1 (a fixed-shape 1×3×96×160 engine is the fastest TensorRT build, and a
batch axis would need its own profile range), and the predictor is the same for torch and the
exported backends. The possible cost is GPU utilisation (small tiles one by one); batching is
a later option once measured on a device.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import resize_nearest, rgb_tensor

TILE_SIZE = (96, 160)


def stereo_frame_inputs(frame, size: tuple[int, int], attributes: dict[str, Any]
                        ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """A ``frames.StereoFrame`` → ``{"left", "right"}`` ``(1, 3, *size)`` and the ground-truth
    disparity at ``size`` (pixels of the resized left view, 0 = none; None without GT).

    Both views are resized alike (area); disparities scale with the width only (a rectified
    pair's matches lie on rows, so the height factor does not enter).
    """
    gt = None
    if frame.disparity is not None:
        scale = size[1] / frame.left.shape[1]
        gt = resize_nearest(frame.disparity, size) * np.float32(scale)
    return {"left": rgb_tensor(frame.left, size), "right": rgb_tensor(frame.right, size)}, gt


def stereo_metric(disparity: np.ndarray, gt_disparity: np.ndarray) -> dict[str, float]:
    """End-point error (px, the headline) and bad-2 (% of pixels off by > 2 px) over the
    pixels with ground truth (``edgegeo.metrics.stereo.stereo_metrics``)."""
    from edgegeo.metrics.stereo import stereo_metrics

    metrics = stereo_metrics(disparity, gt_disparity)
    return {"epe": metrics["epe"], "bad2": metrics["bad2"]}


def stereo_attributes(network) -> dict[str, Any]:
    """``patch_size``: what ``StereoPredictor`` checks tile sizes against."""
    return {"patch_size": int(network.patch_size)}
