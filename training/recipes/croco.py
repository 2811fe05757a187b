"""CroCo v2 cross-view completion pre-training (Weinzaepfel et al., NeurIPS 2022 and ICCV 2023):
the ``croco`` recipe.

View 1 of a CroCo-scored synthetic pair loses 90 % of its patches; the Siamese RoPE encoder
sees the rest and all of view 2; the decoder (self-attention → cross-attention to view 2 →
MLP) rebuilds the masked patches, scored by MSE to per-patch normalised pixels. The backbone
it leaves (``croco.safetensors``) initialises the ``stereo`` recipe.

    edgegeo data render --rig pairs --out data/croco-train --scenes 300 --frames 12 \\
        --width 160 --height 128
    edgegeo train croco --out runs/croco
    # then teach it to read view 2 with small-baseline pairs (the shipped croco):
    edgegeo train croco --out runs/croco-stereo --set steps=1500 --set warmup_steps=50 \\
        --set stereo_data=data/stereo-train --set stereo_share=0.75 \\
        --set init=runs/croco/croco.safetensors

References:

* Weinzaepfel et al., "CroCo: Self-Supervised Pre-training for 3D Vision Tasks by Cross-View
  Completion", NeurIPS 2022.
* Weinzaepfel et al., "CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching
  and Optical Flow", ICCV 2023 (code: https://github.com/naver/croco).
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
from ..init_weights import NO_INIT, init_provenance, initialise_from
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
        stereo_data: folder (or packed ``.npz``) of ``--rig stereo`` shards whose rectified
            pairs (images only) are mixed into the training pairs, ``generate`` (render
            ``generate_scenes`` × ``generate_pairs`` in memory: smoke runs), or empty for none.
        stereo_share: chance that a training sample is such a stereo pair. Small-baseline
            pairs make copying from view 2 easy to discover: on the mined wide-baseline pairs
            alone, 2 400 CPU steps left a backbone that ignored view 2 (masked MSE 0.674 with
            the true view 2, 0.678 with another pair's; ``edgegeo eval stereo --croco``).
        stereo_shift: view 2 of a stereo pair is cropped up to this many pixels (each axis)
            away from view 1's window, so copying by position stops working and rebuilding
            view 1 needs matching by content (0 = same window).
        init: weights of an earlier ``croco`` run to start from (a warm restart), or ``none``.
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
    stereo_data: str = ""
    stereo_share: float = 0.0
    stereo_shift: int = 0
    init: str = NO_INIT

    def validate(self) -> None:
        super().validate()
        if self.stereo_shift < 0:
            raise ValueError(f"config stereo_shift must be >= 0, got {self.stereo_shift}")
        if not 0 <= self.stereo_share <= 1 or (self.stereo_share > 0 and not self.stereo_data):
            raise ValueError(f"config stereo_share must be in [0, 1] and needs stereo_data, got "
                             f"{self.stereo_share} with stereo_data={self.stereo_data!r}")
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
        return initialise_from(CroCoNet(CroCoConfig.named(cfg.model)), cfg.init, "croco")

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

    def stereo_pairs(self, cfg: CroCoTrainConfig) -> TwoViewImages | None:
        """The rectified pairs mixed into training (``stereo_data``), or None."""
        if cfg.stereo_share == 0:
            return None
        key = ("stereo", cfg.stereo_data, cfg.max_scenes)
        if key not in self._pairs and cfg.stereo_data == GENERATE:
            self._pairs[key] = generate_two_view("stereo", TRAIN_SEEDS[:cfg.generate_scenes],
                                                 cfg.generate_pairs, *cfg.generate_size,
                                                 split=TRAIN_SEEDS, purpose="croco pre-training")
        elif key not in self._pairs:
            self._pairs[key] = load_two_view_shards(cfg.stereo_data, "stereo", cfg.max_scenes,
                                                    TRAIN_SEEDS, "croco pre-training")
        return self._pairs[key]

    def build_data(self, cfg, rank, world_size, seed, start_step):
        pairs, stereo = self.pairs(cfg), self.stereo_pairs(cfg)
        return seeded_batches(
            lambda s: pair_batch(pairs, cfg.batch_size, tuple(cfg.crop_size), s, stereo,
                                 cfg.stereo_share, cfg.stereo_shift),
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
        stereo = self.stereo_pairs(cfg)
        shift = (f", view 2 cropped up to {cfg.stereo_shift} px away from view 1's window"
                 if cfg.stereo_shift else "")
        mixed = ("" if stereo is None else
                 f"; {cfg.stereo_share:.0%} of samples rectified pairs (images only{shift}) "
                 f"from {stereo.source}")
        init = "" if cfg.init == NO_INIT else f"; initialised from {cfg.init}"
        return (f"{self.pairs(cfg).source}{mixed}; same-place random crops {cfg.crop_size[0]}x"
                f"{cfg.crop_size[1]}, random view swap and horizontal flip; "
                f"{cfg.mask_ratio:.0%} of view-1 patches masked{init}")

    def images(self, model, batch, cfg):
        view1, view2 = batch["view1"][:4], batch["view2"][:4]
        return reconstruction_images(model, view1, view2,
                                     self._visible(cfg, view1, model.patch_size))

    def evaluate(self, model, cfg) -> dict[str, float]:
        """Masked-patch loss on validation pairs (``VAL_SEEDS``), fixed masks; the same with
        view 2 taken from another pair (no higher = the model ignores view 2); and the loss of
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
        # View 2 of another pair: how much of the reconstruction comes from the true view 2.
        other = masked_patch_loss(model(view1, view2.roll(1, 0), visible), target, visible)
        mean_patch = masked_patch_loss(torch.zeros_like(target), target, visible)
        return {"val_masked_mse": float(loss), "val_masked_mse_other_view2": float(other),
                "val_mean_patch_mse": float(mean_patch), "val_pairs": float(count)}

    def model_card(self, model, cfg) -> dict[str, Any]:
        return {"model_config": CroCoConfig.named(cfg.model).to_dict(),
                **init_provenance(cfg.init)}

