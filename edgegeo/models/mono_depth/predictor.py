"""``MonoDepthPredictor``: numpy image in, relative disparity at the image's own size out.

The image is resized (aspect ratio kept) to a working size, padded on the bottom and right by
edge replication to a multiple of the patch size, run through the network, cropped and
resized back.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edgegeo.limits import check_aspect, fit_network_pixels

from ..common import check_rgb_image

DEFAULT_SHORT_SIDE = 256


def working_size(height: int, width: int, resolution: int | tuple[int, int], patch: int
                 ) -> tuple[tuple[int, int], tuple[int, int]]:
    """Where an ``height × width`` image goes inside the network input.

    Args:
        resolution: an int = the short side after resizing (the long side follows the aspect
            ratio, the input is padded up to patch multiples; both shrink when the input
            would exceed :data:`edgegeo.limits.MAX_NETWORK_PIXELS`; an image more elongated
            than :data:`edgegeo.limits.MAX_ASPECT` is refused); or ``(H_in, W_in)``, patch
            multiples = the exact network input, the image scaled to fit inside it.
        patch: the network's patch size in pixels.
    Returns:
        ``((h, w), (H_in, W_in))``: the resized image size and the padded network input size.
    """
    if isinstance(resolution, int):
        if resolution <= 0:
            raise ValueError(f"resolution must be positive, got {resolution}")
        check_aspect(height, width)    # the long side follows the short one: bound it
        scale = resolution / min(height, width)
        scale *= fit_network_pixels(round(height * scale), round(width * scale))
        resized = (max(1, round(height * scale)), max(1, round(width * scale)))
        padded = (math.ceil(resized[0] / patch) * patch, math.ceil(resized[1] / patch) * patch)
        return resized, padded
    target_h, target_w = resolution
    if target_h <= 0 or target_w <= 0 or target_h % patch or target_w % patch:
        raise ValueError(f"working size {resolution} must be positive multiples of the patch "
                         f"size {patch}")
    scale = min(target_h / height, target_w / width)
    resized = (min(target_h, max(1, round(height * scale))),
               min(target_w, max(1, round(width * scale))))
    return resized, (target_h, target_w)


class MonoDepthPredictor:
    """Relative disparity of single RGB images with a :class:`MonoDepthNet`.

    Args:
        model: a ``MonoDepthNet`` (or any module mapping ``(B, 3, H, W)`` float32 RGB in [0, 1]
            with sides multiple of ``model.patch_size`` to ``(B, 1, H, W)`` disparity ≥ 0).
        resolution: working size: an int short side in pixels (default 256; the long side keeps
            the aspect ratio and is padded to a patch multiple), or ``(H_in, W_in)`` patch
            multiples, a fixed network input the image is fitted into (as an engine with a
            fixed input size needs).
        device: torch device to run on (``"cpu"``, ``"cuda"``).

    Call with an ``(H, W, 3) uint8`` RGB image → ``(H, W) float32`` affine-invariant disparity
    ≥ 0, larger = nearer (unknown scale and shift).
    """

    def __init__(self, model: nn.Module, resolution: int | tuple[int, int] = DEFAULT_SHORT_SIDE,
                 device: str | torch.device = "cpu"):
        patch = getattr(model, "patch_size", None)
        if not isinstance(patch, int) or patch <= 0:
            raise ValueError("model must expose a positive int patch_size (a MonoDepthNet)")
        if not isinstance(resolution, int):
            resolution = tuple(int(v) for v in resolution)
            if len(resolution) != 2:
                raise ValueError(f"resolution must be an int or (H, W), got {resolution}")
        working_size(patch, patch, resolution, patch)          # validate once, up front
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.patch_size = patch
        self.resolution = resolution

    @torch.inference_mode()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = check_rgb_image(image)
        height, width = image.shape[:2]
        (resized_h, resized_w), (input_h, input_w) = working_size(
            height, width, self.resolution, self.patch_size)
        rgb = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        rgb = rgb.permute(2, 0, 1).unsqueeze(0).float() / 255.0             # (1, 3, H, W)
        rgb = F.interpolate(rgb, size=(resized_h, resized_w), mode="bilinear",
                            align_corners=False, antialias=True).clamp(0.0, 1.0)
        rgb = F.pad(rgb, (0, input_w - resized_w, 0, input_h - resized_h), mode="replicate")
        disparity = self.model(rgb)[:, :, :resized_h, :resized_w]
        disparity = F.interpolate(disparity, size=(height, width), mode="bilinear",
                                  align_corners=False, antialias=True)
        return disparity[0, 0].clamp_min(0.0).float().cpu().numpy()
