"""Coarse-to-fine depth for the ``planes`` design: local depth volumes at ½ and full resolution.

The ¼-resolution plane sweep quantises depth into log-spaced planes ~5.7 % apart (64 planes,
0.25–8 m), and the U-Net's ½ and full-resolution stages refine it from image features alone:
they cannot tell which nearby depth the sources agree with. This stage adds that evidence.
Around the network's ½-resolution log depth ``c`` (gradient stopped), each pixel gets ``K =
2R + 1`` depth hypotheses ``c + k·δ`` for ``k = −R … R`` (``δ`` a fraction of the plane step);
the ½-resolution matching features of the sources are sampled where each hypothesis projects,
and their correlation with the reference feature (mean over the sources that see the point,
:func:`~edgegeo.models.mvs.metadata.correlation_volume`) forms a ``(B, K, H/2, W/2)`` local
volume. A small CNN reads it with the reference features and ``c`` and outputs one logit per
hypothesis; the refined log depth is ``c + Σ_k softmax(logits)_k · k·δ``. The output layer
starts at zero (uniform weights: offset 0), so the stage starts as the identity and can be added
to trained weights. The logits are supervised directly (:func:`~.losses.local_cross_entropy`).
The same stage runs again at full resolution around the full-resolution depth, with narrower
hypotheses and full-resolution matching features (``MVSNetConfig.full_channels``).

Upstream designs this follows (our own implementation): the cascade cost volumes of CasMVSNet
(Gu et al., "Cascade Cost Volume for High-Resolution Multi-View Stereo and Stereo Matching",
CVPR 2020) — per-pixel depth hypotheses in a narrow range around the coarser level's estimate —
and the warped local volumes of AnyNet (Wang et al., ICRA 2019) / NVIDIA ESS, as in
``edgegeo.models.stereo``.
"""
from __future__ import annotations

import torch
from torch import nn

from .features import conv_bn_relu


class LocalDepthRefinement(nn.Module):
    """The hypotheses and the CNN of the local volume (the sampling is the caller's: it owns
    the geometry).

    Args:
        feature_channels: channels of the reference matching features (at the volume's
            resolution).
        radius: ``R``, hypotheses ``k = −R … R``.
        step: ``δ``, natural-log depth between neighbouring hypotheses.
        log_range: ``(ln min_depth, ln max_depth)``: refined depths are clamped to it.
        hidden: channels of the CNN.
    """

    def __init__(self, feature_channels: int, radius: int, step: float,
                 log_range: tuple[float, float], hidden: int = 32):
        super().__init__()
        count = 2 * radius + 1
        self.radius = radius
        self.step = float(step)
        self.log_min, self.log_max = (float(v) for v in log_range)
        self.register_buffer("offsets", self.step * torch.arange(-radius, radius + 1,
                                                                  dtype=torch.float32),
                             persistent=False)
        self.net = nn.Sequential(conv_bn_relu(count + feature_channels + 1, hidden),
                                 conv_bn_relu(hidden, hidden),
                                 nn.Conv2d(hidden, count, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def hypotheses(self, log_center: torch.Tensor) -> torch.Tensor:
        """``(B, 1, h, w)`` log depth → ``(B, K, h, w)`` hypotheses' log depths."""
        return log_center + self.offsets.to(log_center.dtype).view(1, -1, 1, 1)

    def forward(self, correlation: torch.Tensor, ref_feats: torch.Tensor,
                log_center: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``correlation (B, K, h, w)`` (the local volume at :meth:`hypotheses`), ``ref_feats
        (B, C, h, w)``, ``log_center (B, 1, h, w)`` → ``logits (B, K, h, w)`` and the refined
        log depth ``(B, 1, h, w)`` (clamped to the depth range)."""
        normalised = (log_center - self.log_min) / (self.log_max - self.log_min)
        logits = self.net(torch.cat([correlation, ref_feats, normalised], dim=1))
        offset = (torch.softmax(logits, dim=1)
                  * self.offsets.to(logits.dtype).view(1, -1, 1, 1)).sum(1, keepdim=True)
        return logits, (log_center + offset).clamp(self.log_min, self.log_max)
