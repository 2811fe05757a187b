"""``CroCoCompleter``: cross-view completion of numpy images with a trained :class:`CroCoNet`
(what ``edgegeo.load("croco")`` returns)."""
from __future__ import annotations

import numpy as np
import torch

from .network import MASK_RATIO, CroCoNet, random_visible, reconstruct


class CroCoCompleter:
    """Cross-view completion of numpy images with a trained :class:`CroCoNet` (what
    ``edgegeo.load("croco")`` returns): shows what the pre-trained backbone learned.

    Call with ``view1, view2`` ``(H, W, 3) uint8`` RGB of one size (cropped to patch multiples
    from the top-left) → ``(masked view 1, reconstruction)``, both ``(h, w, 3) uint8``: view 1
    with the hidden patches grey, and view 1 rebuilt (visible patches kept, hidden ones
    predicted and de-normalised with the true patch mean and spread).

    Args:
        model: a ``CroCoNet``.
        mask_ratio: share of view-1 patches hidden.
        seed: seeds the random mask.
        device: torch device.
    """

    def __init__(self, model: CroCoNet, mask_ratio: float = MASK_RATIO, seed: int = 0,
                 device: str | torch.device = "cpu"):
        if not 0 <= mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.mask_ratio = mask_ratio
        self.seed = seed

    @torch.inference_mode()
    def __call__(self, view1, view2):
        from ..stereo.pairs import check_stereo_pair

        view1, view2 = check_stereo_pair(view1, view2)
        patch = self.model.patch_size
        height, width = (s // patch * patch for s in view1.shape[:2])
        if height == 0 or width == 0:
            raise ValueError(f"images of {view1.shape[:2]} are smaller than one {patch}-px patch")
        tensors = [torch.from_numpy(np.ascontiguousarray(v[:height, :width])).to(self.device)
                   .permute(2, 0, 1).unsqueeze(0).float() / 255.0 for v in (view1, view2)]
        grid = (height // patch, width // patch)
        visible = random_visible(1, grid[0] * grid[1], self.mask_ratio,
                                 torch.Generator().manual_seed(self.seed)).to(self.device)
        return tuple((image[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()
                     for image in reconstruct(self.model, *tensors, visible))
