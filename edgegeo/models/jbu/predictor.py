"""``JBUPredictor``: ×2ⁿ depth upsampling of numpy arrays with a :class:`DepthJBU`, guided by
the image (``(h, w)`` metres + ``(H, W, 3) uint8`` → ``(H, W)`` metres)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from edgegeo.limits import check_aspect, check_distances

from ..common import check_rgb_image
from .network import DepthJBU, resize_depth


class JBUPredictor:
    """Depth upsampling of numpy arrays with a :class:`DepthJBU`.

    Args:
        model: a ``DepthJBU``.
        device: torch device (``"cpu"``, ``"cuda"``).

    ``predictor(depth_lowres, image)``:

    - ``depth_lowres``: ``(h, w)`` float32 metres, 0 = invalid (NaN/inf/negative rejected),
      h, w >= 2;
    - ``image``: ``(H, W, 3) uint8`` RGB, at least as large as the depth;
    - returns ``(H, W) float32`` metres, 0 where the low-resolution depth was invalid.

    The model upsamples by 2ⁿ with n = round(log2(H/h)) (≥ 1; the trained ×4 model skips or
    repeats its stages for other powers of two, which is less accurate). The image is resized
    (area) to exactly ``h·2ⁿ × w·2ⁿ`` when it is not that size already, and the result is
    resized back to ``H × W`` (bilinear on ``[depth·valid, valid]``, nearest validity).
    """

    def __init__(self, model: DepthJBU, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, depth_lowres: np.ndarray, image: np.ndarray) -> np.ndarray:
        image = check_rgb_image(image)
        check_aspect(*image.shape[:2])
        depth = _check_depth(depth_lowres)
        (low_h, low_w), (height, width) = depth.shape, image.shape[:2]
        if height < low_h or width < low_w:
            raise ValueError(f"image {height}x{width} is smaller than the depth {low_h}x{low_w}"
                             f"; the image sets the output size")
        ratio = math.sqrt(height * width / (low_h * low_w))
        num_stages = max(1, round(math.log2(ratio)))
        work = (low_h * 2 ** num_stages, low_w * 2 ** num_stages)
        rgb = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        rgb = rgb.permute(2, 0, 1)[None].float() / 255.0
        if (height, width) != work:
            rgb = F.interpolate(rgb, size=work, mode="area" if work[0] <= height else "bilinear",
                                align_corners=None if work[0] <= height else False)
        source = torch.from_numpy(depth).to(self.device)[None, None]
        out = self.model.upsample(source, rgb.clamp(0, 1), num_stages)
        if (height, width) != work:
            out = resize_depth(out, (height, width))
        return out[0, 0].float().cpu().numpy()


def _check_depth(depth) -> np.ndarray:
    if not isinstance(depth, np.ndarray) or depth.ndim != 2 \
            or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be an (h, w) float numpy array in metres, got "
                         f"{type(depth).__name__} {getattr(depth, 'shape', '')} "
                         f"{getattr(depth, 'dtype', '')}")
    if min(depth.shape) < 2:
        raise ValueError(f"depth must be at least 2x2, got {depth.shape}")
    if not np.all(np.isfinite(depth)):
        raise ValueError("depth contains NaN or inf; mark invalid pixels with 0")
    if depth.min() < 0:
        raise ValueError(f"depth contains negative values (min {depth.min()}); 0 = invalid")
    check_distances(depth, "depth")
    return np.ascontiguousarray(depth, dtype=np.float32)
