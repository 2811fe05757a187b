"""``StereoPredictor``: a rectified ``(left, right)`` pair of numpy images in, disparity of the
left image in its own pixels (and a confidence) out, with a :class:`CostVolumeStereo`.

1. Checks: both ``(H, W, 3) uint8`` RGB of one size; optionally the rectification check of
   :func:`~.pairs.rectification_problem`, whose error says what looks wrong.
2. Working scale ``s = min(1, network range / max_disparity)``: a pair whose disparities exceed
   what the network's volume covers is shrunk until they fit.
3. Edge-replicated padding to multiples of 32 (right and bottom), one forward pass over the
   whole image (the network is fully convolutional: no tiles), crop.
4. Disparity divided by ``s`` and resized back to ``H × W``.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .network import SIZE_MULTIPLE
from .pairs import predict_pair


class StereoPredictor:
    """Disparity of rectified pairs.

    Args:
        model: a :class:`~.network.CostVolumeStereo`, or a runtime network with the same call
            (two ``(1, 3, H, W)`` float32 RGB [0, 1] images, sides multiples of 32 → ``(1, 2, H,
            W)`` disparity in pixels + bounded log-scale ``c``) and a ``max_disparity``.
        max_disparity: the largest disparity expected in the input, pixels; None = the
            network's own range (no shrinking).
        check_rectification: run :func:`~.pairs.rectification_problem` and refuse bad pairs.
        device: torch device.

    Call with ``left, right`` ``(H, W, 3) uint8`` RGB → ``(H, W) float32`` disparity ≥ 0 in
    pixels of the left image; ``return_confidence=True`` also returns ``(H, W) float32``
    confidence ``exp(−c)`` ∈ (e⁻³, e³), larger = surer.
    """

    def __init__(self, model: nn.Module, max_disparity: float | None = None,
                 check_rectification: bool = True, device: str | torch.device = "cpu"):
        network_range = getattr(model, "max_disparity", None)
        if not isinstance(network_range, (int, float)) or network_range <= 0:
            raise ValueError("model must expose a positive max_disparity (a CostVolumeStereo)")
        if max_disparity is not None and not max_disparity > 0:
            raise ValueError(f"max_disparity must be positive pixels, got {max_disparity}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval() if isinstance(model, nn.Module) else model
        self.network_range = float(network_range)
        self.max_disparity = max_disparity
        self.check_rectification = check_rectification

    def working_scale(self) -> float:
        """Factor the pair is resized by before the network (≤ 1)."""
        if self.max_disparity is None:
            return 1.0
        return min(1.0, self.network_range / self.max_disparity)

    @torch.inference_mode()
    def __call__(self, left: np.ndarray, right: np.ndarray, return_confidence: bool = False):
        return predict_pair(self.model, left, right, scale=self.working_scale(),
                            multiple=SIZE_MULTIPLE, device=self.device,
                            check_rectification=self.check_rectification,
                            return_confidence=return_confidence)
