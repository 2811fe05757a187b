"""What the ``stereo`` and ``croco-stereo`` entries of :data:`~.specs.EXPORT_SPECS` need.

``stereo`` (``CostVolumeStereo``): ``left``, ``right`` ``(1, 3, H, W)`` float32 RGB in [0, 1],
``H, W`` multiples of 32, dynamic → ``disparity_confidence`` ``(1, 2, H, W)``: disparity of the
left view in pixels and the bounded log-scale ``c`` (confidence ``exp(−c)``). The whole image is
one call (the network is fully convolutional); the correlation volume is slices, products and
channel sums, the warped local volumes and the candidate selection ``Gather`` s of
channels-last feature rows, the last ×2 the ``adaptive_conv`` op (written channels-first in
standard ops, or the plugin node).

``croco-stereo`` (``CroCoStereoNet``): the same inputs and output at the predictor's tile size
(96×160, the training crop, multiples of the patch size); ``CroCoStereoPredictor`` sends
batches of tiles, which the runtime network runs through the batch-1 graph one by one
(``RuntimeNetwork.run_all``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import resize_nearest, rgb_tensor

CROCO_TILE_SIZE = (96, 160)
DEPLOYMENT_SIZE = (480, 640)
LEARNED_SCOPES = ("/features/", "/aggregate/", "/refine4/net/", "/refine2/net/", "/select4/net/",
                  "/select2/net/", "/fine/", "/refine1/net/", "/upsample/range_proj/",
                  "/upsample/net/")
"""Name prefixes of the exported ``stereo`` graph's CNN nodes (the modules' scopes)."""


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


def stereo_geometry_nodes(model) -> list[str]:
    """Nodes of the ``stereo`` graph outside its CNNs, kept fp32 in the fp16 graph: the
    volumes, soft-argmins and, above all, the sampling positions ``column − disparity`` —
    in fp16 a column near 600 has a step of 0.5 px, which moved disparities by up to 1.3 px
    on held-out frames. The convolutions (the bulk of the work) stay fp16."""
    return [node.name for node in model.graph.node if not node.name.startswith(LEARNED_SCOPES)]


def stereo_attributes(network) -> dict[str, Any]:
    """``max_disparity``: the range ``StereoPredictor`` shrinks larger inputs into."""
    return {"max_disparity": int(network.max_disparity)}


def croco_stereo_attributes(network) -> dict[str, Any]:
    """``patch_size``: what ``CroCoStereoPredictor`` checks tile sizes against."""
    return {"patch_size": int(network.patch_size)}
