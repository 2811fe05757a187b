"""CroCo v2 cross-view completion pre-training (methods.md §1): the ``croco`` recipe.

View 1 of a CroCo-scored synthetic pair loses 90 % of its patches; the Siamese RoPE encoder
sees the rest and all of view 2; the decoder (self-attention → cross-attention to view 2 →
MLP) rebuilds the masked patches, scored by MSE to per-patch normalised pixels. The backbone
it leaves (``croco.safetensors``) initialises the ``stereo`` recipe.

    edgegeo data render --rig pairs --out data/croco-train --scenes 300 --frames 12 \\
        --width 160 --height 128
    edgegeo train croco --out runs/croco
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from edgegeo.data.splits import TRAIN_SEEDS, VAL_SEEDS
from edgegeo.models.croco import (MASK_RATIO, CroCoConfig, CroCoNet, patchify, random_visible,
                                  reconstruct)

from ..config import TrainConfig
from ..croco.data import (TwoViewImages, generate_two_view, load_two_view_shards,
                          pair_batch)
from ..croco.losses import masked_patch_loss
from ..data import seeded_batches
from ..distributed import set_cpu_threads
from . import Recipe, register_recipe

GENERATE = "generate"


@dataclass(frozen=True)
class CroCoTrainConfig(TrainConfig):
    """``croco`` settings.

    Attributes:
        model: backbone size (``small`` = the edge backbone, ``tiny`` for smoke runs).
        mask_ratio: share of view-1 patches hidden from the encoder (CroCo: 0.9).
        crop_size: ``(H, W)`` of the training crops, multiples of the patch size.
        train_data: folder of ``--rig pairs`` shards, or ``generate`` (mine ``generate_scenes``
            × ``generate_pairs`` pairs of ``generate_size`` in memory: smoke runs).
        val_data: folder of validation pair shards (``VAL_SEEDS``) or ``generate``.
        max_scenes: use only the first this many shards (0 = all).
        val_pairs: validation pairs scored for the model card (0 = none).
        num_threads: torch CPU threads per process (0 = torch's default).
    """

    steps: int = 3000
    batch_size: int = 8
    lr: float = 3e-4
    warmup_steps: int = 150
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    log_every: int = 25
    image_every: int = 500
    checkpoint_every: int = 250
    model: str = "small"
    mask_ratio: float = MASK_RATIO
    crop_size: tuple[int, int] = (96, 128)
    train_data: str = "data/croco-train"
    val_data: str = "data/croco-val"
    max_scenes: int = 0
    generate_scenes: int = 2
    generate_pairs: int = 4
    generate_size: tuple[int, int] = (128, 160)
    val_pairs: int = 32
    num_threads: int = 2

    def validate(self) -> None:
        super().validate()
        patch = CroCoConfig.named(self.model).patch_size
        if len(self.crop_size) != 2 or any(s <= 0 or s % patch for s in self.crop_size):
            raise ValueError(f"config crop_size must be two positive multiples of the patch "
                             f"size {patch}, got {self.crop_size}")
        if not 0 <= self.mask_ratio < 1:
            raise ValueError(f"config mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.val_pairs < 0 or self.num_threads < 0:
            raise ValueError("config val_pairs and num_threads must be >= 0")


def reconstruction_images(model: CroCoNet, view1: torch.Tensor, view2: torch.Tensor,
                          visible: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pictures of a reconstruction (:func:`~edgegeo.models.croco.reconstruct`) beside the
    true views, each ``(B, 3, H, W)`` in [0, 1]."""
    masked, rebuilt = reconstruct(model, view1, view2, visible)
    return {"view1_masked": masked, "reconstruction": rebuilt, "view1": view1, "view2": view2}


@register_recipe("croco")
class CroCoRecipe(Recipe):
    """Cross-view completion on synthetic CroCo-scored view pairs."""

    config_cls = CroCoTrainConfig
    smoke_overrides = {"model": "tiny", "crop_size": (32, 48), "train_data": GENERATE,
                       "val_data": GENERATE, "generate_scenes": 1, "generate_pairs": 2,
                       "generate_size": (48, 64), "val_pairs": 2, "batch_size": 2,
                       "log_every": 2}

    def __init__(self) -> None:
        self._pairs: dict[tuple, TwoViewImages] = {}

    def build_model(self, cfg: CroCoTrainConfig) -> CroCoNet:
        set_cpu_threads(cfg.num_threads, cfg.device)
        return CroCoNet(CroCoConfig.named(cfg.model))

    def pairs(self, cfg: CroCoTrainConfig, validation: bool = False) -> TwoViewImages:
        """Training (or validation) pairs, loaded once per recipe instance."""
        source = cfg.val_data if validation else cfg.train_data
        split = VAL_SEEDS if validation else TRAIN_SEEDS
        key = (source, validation, cfg.max_scenes, cfg.generate_scenes, cfg.generate_pairs,
               tuple(cfg.generate_size))
        if key not in self._pairs:
            purpose = "croco validation" if validation else "croco pre-training"
            if source == GENERATE:
                self._pairs[key] = generate_two_view("pairs", split[:cfg.generate_scenes],
                                                     cfg.generate_pairs, *cfg.generate_size,
                                                     split=split, purpose=purpose)
            else:
                self._pairs[key] = load_two_view_shards(source, "pairs",
                                                        0 if validation else cfg.max_scenes,
                                                        split, purpose)
        return self._pairs[key]

    def build_data(self, cfg, rank, world_size, seed, start_step):
        pairs = self.pairs(cfg)
        return seeded_batches(lambda s: pair_batch(pairs, cfg.batch_size, tuple(cfg.crop_size), s),
                              seed=seed, rank=rank, start_step=start_step)

    def _visible(self, cfg, view1: torch.Tensor, patch: int) -> torch.Tensor:
        count = (view1.shape[-2] // patch) * (view1.shape[-1] // patch)
        # Per-step randomness from the global RNG the engine seeds per (run, rank, step).
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
        return random_visible(view1.shape[0], count, cfg.mask_ratio, generator).to(view1.device)

    def loss(self, model, batch, cfg):
        view1, view2 = batch["view1"], batch["view2"]
        patch = CroCoConfig.named(cfg.model).patch_size
        visible = self._visible(cfg, view1, patch)
        prediction = model(view1, view2, visible)
        loss = masked_patch_loss(prediction.float(), patchify(view1, patch), visible)
        return loss, {"reconstruction": loss.detach()}

    def describe_data(self, cfg) -> str:
        return (f"{self.pairs(cfg).source}; same-place random crops {cfg.crop_size[0]}x"
                f"{cfg.crop_size[1]}, random view swap and horizontal flip; "
                f"{cfg.mask_ratio:.0%} of view-1 patches masked")

    def images(self, model, batch, cfg):
        view1, view2 = batch["view1"][:4], batch["view2"][:4]
        return reconstruction_images(model, view1, view2,
                                     self._visible(cfg, view1, model.patch_size))

    def evaluate(self, model, cfg) -> dict[str, float]:
        """Masked-patch loss on validation pairs (``VAL_SEEDS``), fixed masks, and the loss of
        predicting the mean of every patch (0 after normalisation: 1.0 in expectation)."""
        if cfg.val_pairs == 0:
            return {}
        pairs = self.pairs(cfg, validation=True)
        count = min(cfg.val_pairs, len(pairs))
        batch = pair_batch(pairs, count, tuple(cfg.crop_size), seed=12345)
        device = next(model.parameters()).device
        view1, view2 = batch["view1"].to(device), batch["view2"].to(device)
        generator = torch.Generator().manual_seed(0)
        patch = model.patch_size
        num = (view1.shape[-2] // patch) * (view1.shape[-1] // patch)
        visible = random_visible(count, num, cfg.mask_ratio, generator).to(device)
        target = patchify(view1, patch)
        loss = masked_patch_loss(model(view1, view2, visible), target, visible)
        mean_patch = masked_patch_loss(torch.zeros_like(target), target, visible)
        return {"val_masked_mse": float(loss), "val_mean_patch_mse": float(mean_patch),
                "val_pairs": float(count)}

    def model_card(self, model, cfg) -> dict[str, Any]:
        return {"model_config": CroCoConfig.named(cfg.model).to_dict()}

