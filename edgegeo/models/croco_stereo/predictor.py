"""``CroCoStereoPredictor``: a rectified ``(left, right)`` pair of numpy images in, disparity of the
left image in its own pixels out.

1. Checks: both ``(H, W, 3) uint8`` RGB of one size; optionally a rectification check (ORB
   matches must lie on the same rows and have non-negative disparity), whose error says what
   looks wrong.
2. Working scale ``s = min(1, trained_max_disparity / max_disparity)``: a pair whose
   disparities exceed what the model was trained on is shrunk until they fit.
3. Padding (edge replication) to the patch multiple; images larger than the training crop go
   through :func:`~edgegeo.models.layers.tiling.tiled_prediction` with overlapping windows merged by
   confidence.
4. Disparity divided by ``s`` and resized back to ``H × W``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..layers.tiling import tiled_prediction
from ..stereo.pairs import predict_pair


class CroCoStereoPredictor:
    """Disparity of rectified pairs with a :class:`~edgegeo.models.croco_stereo.CroCoStereoNet`.

    Args:
        model: a ``CroCoStereoNet`` (or a module mapping two ``(B, 3, H, W)`` float32 RGB [0, 1]
            images, sides multiples of ``model.patch_size``, to ``(B, 2, H, W)`` disparity in
            pixels + bounded log-scale ``c``).
        tile_size: ``(h, w)`` of the tiles, pixels at the working scale (the training crop).
        overlap: fraction of a tile shared with each neighbour.
        max_disparity: the largest disparity expected in the input, pixels; None = within
            the trained range (no shrinking).
        trained_max_disparity: the largest disparity the model handles, pixels (model card).
        check_rectification: run :func:`rectification_problem` and refuse bad pairs.
        device: torch device.

    Call with ``left, right`` ``(H, W, 3) uint8`` RGB → ``(H, W) float32`` disparity ≥ 0 in
    pixels of the left image; ``return_confidence=True`` also returns ``(H, W) float32``
    confidence ``exp(−c)`` ∈ (e⁻³, e³), larger = surer.
    """

    def __init__(self, model: nn.Module, tile_size: tuple[int, int] = (96, 160),
                 overlap: float = 0.5, max_disparity: float | None = None,
                 trained_max_disparity: float = 40.0, check_rectification: bool = True,
                 device: str | torch.device = "cpu"):
        patch = getattr(model, "patch_size", None)
        if not isinstance(patch, int) or patch <= 0:
            raise ValueError("model must expose a positive int patch_size (a CroCoStereoNet)")
        tile_size = tuple(int(v) for v in tile_size)
        if len(tile_size) != 2 or min(tile_size) <= 0 or any(v % patch for v in tile_size):
            raise ValueError(f"tile_size must be two positive multiples of the patch size "
                             f"{patch}, got {tile_size}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if max_disparity is not None and not max_disparity > 0:
            raise ValueError(f"max_disparity must be positive pixels, got {max_disparity}")
        if not trained_max_disparity > 0:
            raise ValueError(f"trained_max_disparity must be positive, got "
                             f"{trained_max_disparity}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval() if isinstance(model, nn.Module) else model
        self.patch_size = patch
        self.tile_size = tile_size
        self.overlap = float(overlap)
        self.max_disparity = max_disparity
        self.trained_max_disparity = float(trained_max_disparity)
        self.check_rectification = check_rectification

    def working_scale(self) -> float:
        """Factor the pair is resized by before the network (≤ 1)."""
        if self.max_disparity is None:
            return 1.0
        return min(1.0, self.trained_max_disparity / self.max_disparity)

    @torch.inference_mode()
    def __call__(self, left: np.ndarray, right: np.ndarray, return_confidence: bool = False):
        return predict_pair(
            lambda l, r: tiled_prediction(self.model, l, r, self.tile_size, self.overlap),
            left, right, scale=self.working_scale(), multiple=self.patch_size,
            device=self.device, check_rectification=self.check_rectification,
            return_confidence=return_confidence)
