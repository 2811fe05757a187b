"""CroCo-Stereo fine-tuning: the ``croco-stereo`` recipe (the shipped ``stereo`` model is the
cost-volume network of :mod:`.stereo`).

The CroCo backbone (encoder + decoder, initialised from ``croco`` weights, or randomly for the
from-scratch ablation) reads (left, right); a DPT head on the last encoder block and three
decoder blocks outputs disparity and a bounded log-scale, trained with the Laplacian loss on
synthetic rectified pairs (rescaled by a random factor, cropped, vertically flipped, each view
colour-jittered on its own).

    edgegeo data render --rig stereo --out data/stereo-train --seed 300 --scenes 300 \\
        --frames 12 --width 192 --height 128
    edgegeo train croco-stereo --out runs/croco-stereo --set init=runs/croco/croco.safetensors
    edgegeo train croco-stereo --out runs/croco-stereo-scratch --set init=none        # the ablation

Procedural layered pairs (:mod:`edgegeo.data.synthetic.layered_stereo`: textured slanted
planes with exact disparity, ~30 ms a pair, nothing to render) can replace or join the rendered
pairs: their disparity is independent of image position and content, so only matching lowers
the loss (rendered rooms let a typical-disparity layout prior do nearly as well)::

    edgegeo train croco-stereo --out runs/croco-stereo-layered --set train_data=layered --set layered_share=1
    edgegeo train croco-stereo --out runs/croco-stereo-mixed --set layered_share=0.5
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgegeo.data.splits import TRAIN_SEEDS, VAL_SEEDS
from edgegeo.models.croco_stereo import (CroCoStereoConfig, CroCoStereoNet,
                                         load_backbone_weights)

from ..config import TrainConfig
from ..croco.data import (TwoViewImages, generate_two_view, layered_stereo_batch,
                          load_two_view_shards, stereo_batch)
from ..croco.losses import laplacian_loss
from ..data import seeded_batches
from ..distributed import set_cpu_threads
from . import Recipe, register_recipe

GENERATE = "generate"
LAYERED = "layered"
NO_INIT = "none"
DEFAULT_INIT = "runs/croco/croco.safetensors"


@dataclass(frozen=True)
class CroCoStereoTrainConfig(TrainConfig):
    """``croco-stereo`` settings.

    Attributes:
        model: ``small`` (the edge model) or ``tiny`` (smoke runs); must match ``init``.
        init: ``croco`` weights (``.safetensors`` of the ``croco`` recipe) the backbone starts
            from, or ``none`` (random initialisation: the ablation).
        crop_size: ``(H, W)`` training crops (also the inference tile), patch multiples.
        scale_range: random rescaling of each training pair (disparities scale with it).
        color_jitter: per-view gain/contrast jitter (fraction).
        trained_max_disparity: the disparity the predictor shrinks inputs to (card), pixels:
            ≈ the 99th percentile of the training disparities after rescaling (35 px in
            ``data/stereo-train`` × the mean scale 1.125).
        train_data: folder of ``--rig stereo`` shards, ``generate`` (smoke runs) or
            ``layered`` (procedural layered pairs only, see ``layered_share``).
        layered_share: fraction of training pairs drawn as procedural layered pairs
            (:mod:`edgegeo.data.synthetic.layered_stereo`, disparity independent of layout and
            appearance, so that only matching pays); the rest come from ``train_data``.
        layered_max_disparity: largest disparity of a layered pair, pixels.
        max_scenes: use only the first this many shards (0 = all).
        val_scenes, val_pairs_per_scene, val_size: validation pairs (``VAL_SEEDS``) rendered
            for the card's metrics at ``val_size`` ``(H, W)`` (larger than the crop: the
            predictor tiles them, as in use).
        num_threads: torch CPU threads per process (0 = torch's default).
    """

    steps: int = 1200
    batch_size: int = 6
    lr: float = 2e-4
    warmup_steps: int = 100
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    log_every: int = 25
    image_every: int = 300
    checkpoint_every: int = 100
    model: str = "small"
    init: str = DEFAULT_INIT
    crop_size: tuple[int, int] = (96, 160)
    scale_range: tuple[float, float] = (0.85, 1.4)
    color_jitter: float = 0.1
    trained_max_disparity: float = 40.0
    train_data: str = "data/stereo-train"
    layered_share: float = 0.0
    layered_max_disparity: float = 48.0
    max_scenes: int = 0
    generate_scenes: int = 2
    generate_pairs: int = 4
    generate_size: tuple[int, int] = (128, 192)
    val_scenes: int = 6
    val_pairs_per_scene: int = 4
    val_size: tuple[int, int] = (128, 192)
    num_threads: int = 2

    def validate(self) -> None:
        super().validate()
        patch = CroCoStereoConfig.named(self.model).backbone.patch_size
        if len(self.crop_size) != 2 or any(s <= 0 or s % patch for s in self.crop_size):
            raise ValueError(f"config crop_size must be two positive multiples of the patch "
                             f"size {patch}, got {self.crop_size}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"config scale_range must satisfy 0 < low <= high, got "
                             f"{self.scale_range}")
        if self.trained_max_disparity <= 0 or not 0 <= self.color_jitter < 1:
            raise ValueError("config trained_max_disparity must be > 0 and color_jitter in "
                             "[0, 1)")
        if not 0 <= self.layered_share <= 1 or self.layered_max_disparity <= 0:
            raise ValueError("config layered_share must be in [0, 1] and "
                             "layered_max_disparity > 0")
        if self.train_data == LAYERED and self.layered_share != 1:
            raise ValueError("config train_data=layered draws only layered pairs: set "
                             "layered_share=1")
        if self.val_scenes < 0 or self.val_pairs_per_scene < 1 or self.num_threads < 0:
            raise ValueError("config val_scenes and num_threads must be >= 0 and "
                             "val_pairs_per_scene >= 1")


def _disparity_for_display(disparity: torch.Tensor, high: float) -> torch.Tensor:
    return (disparity / high).clamp(0, 1)


@register_recipe("croco-stereo")
class CroCoStereoRecipe(Recipe):
    """CroCo-Stereo on synthetic rectified pairs."""

    config_cls = CroCoStereoTrainConfig
    smoke_overrides = {"model": "tiny", "init": NO_INIT, "crop_size": (32, 48),
                       "scale_range": (1.0, 1.0), "train_data": GENERATE, "generate_scenes": 1,
                       "generate_pairs": 2, "generate_size": (48, 64), "val_scenes": 1,
                       "val_pairs_per_scene": 1, "val_size": (48, 80), "batch_size": 2,
                       "log_every": 2}

    def __init__(self) -> None:
        self._pairs: dict[tuple, TwoViewImages] = {}

    def build_model(self, cfg: CroCoStereoTrainConfig) -> CroCoStereoNet:
        set_cpu_threads(cfg.num_threads, cfg.device)
        model = CroCoStereoNet(CroCoStereoConfig.named(cfg.model))
        if cfg.init != NO_INIT:
            from edgegeo.weights_io import load_weights

            load_backbone_weights(model, load_weights(cfg.init))
        return model

    def pairs(self, cfg: CroCoStereoTrainConfig) -> TwoViewImages:
        key = (cfg.train_data, cfg.max_scenes, cfg.generate_scenes, cfg.generate_pairs,
               tuple(cfg.generate_size))
        if key not in self._pairs:
            if cfg.train_data == GENERATE:
                self._pairs[key] = generate_two_view(
                    "stereo", TRAIN_SEEDS[:cfg.generate_scenes], cfg.generate_pairs,
                    *cfg.generate_size, split=TRAIN_SEEDS, purpose="stereo training")
            else:
                self._pairs[key] = load_two_view_shards(cfg.train_data, "stereo",
                                                        cfg.max_scenes, TRAIN_SEEDS)
        return self._pairs[key]

    def build_data(self, cfg, rank, world_size, seed, start_step):
        if cfg.layered_share > 0:
            from edgegeo.data.synthetic.layered_stereo import LayeredStereoConfig

            layered = LayeredStereoConfig(max_disparity=cfg.layered_max_disparity)
            pairs = None if cfg.train_data == LAYERED else self.pairs(cfg)
            return seeded_batches(
                lambda s: layered_stereo_batch(cfg.batch_size, tuple(cfg.crop_size), s, layered,
                                               cfg.color_jitter, pairs, cfg.layered_share,
                                               tuple(cfg.scale_range)),
                seed=seed, rank=rank, start_step=start_step)
        pairs = self.pairs(cfg)
        return seeded_batches(
            lambda s: stereo_batch(pairs, cfg.batch_size, tuple(cfg.crop_size), s,
                                   tuple(cfg.scale_range), cfg.color_jitter),
            seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg):
        out = model(batch["left"], batch["right"]).float()
        disparity, log_scale = out[:, :1], out[:, 1:]
        loss = laplacian_loss(disparity, log_scale, batch["disparity"], batch["valid"])
        with torch.no_grad():
            valid = batch["valid"]
            error = (disparity - batch["disparity"]).abs()[valid]
            epe = error.mean() if error.numel() else torch.zeros(())
            bad2 = 100.0 * (error > 2).float().mean() if error.numel() else torch.zeros(())
        return loss, {"laplacian": loss.detach(), "epe": epe, "bad2": bad2}

    def describe_data(self, cfg) -> str:
        init = "random initialisation" if cfg.init == NO_INIT else f"backbone from {cfg.init}"
        layered = (f"{cfg.layered_share:.0%} procedural layered pairs (disparity up to "
                   f"{cfg.layered_max_disparity:g} px)")
        if cfg.train_data == LAYERED:
            return f"{layered}, crops {cfg.crop_size[0]}x{cfg.crop_size[1]}; {init}"
        prefix = f"{layered}, the rest " if cfg.layered_share else ""
        return (f"{prefix}{self.pairs(cfg).source}; rescaled ×{cfg.scale_range[0]:g}–"
                f"{cfg.scale_range[1]:g}, crops {cfg.crop_size[0]}x{cfg.crop_size[1]}, "
                f"vertical flips, per-view colour jitter ±{cfg.color_jitter:.0%}; {init}")

    def images(self, model, batch, cfg):
        left, right = batch["left"][:4], batch["right"][:4]
        out = model(left, right)
        high = max(1.0, float(batch["disparity"][:4].max()))
        return {"left": left, "right": right,
                "gt_disparity": _disparity_for_display(batch["disparity"][:4], high),
                "disparity": _disparity_for_display(out[:, :1], high),
                "confidence": torch.exp(-out[:, 1:]) / np.exp(3.0)}

    def predictor_options(self, cfg: CroCoStereoTrainConfig) -> dict[str, Any]:
        return {"tile_size": list(cfg.crop_size),
                "trained_max_disparity": cfg.trained_max_disparity}

    def evaluate(self, model, cfg) -> dict[str, float]:
        """EPE and bad-2 (all GT pixels) of the tiled predictor on validation pairs."""
        if cfg.val_scenes == 0:
            return {}
        from edgegeo.metrics.stereo import stereo_metrics
        from edgegeo.models.croco_stereo import CroCoStereoPredictor

        pairs = generate_two_view("stereo", VAL_SEEDS[:cfg.val_scenes], cfg.val_pairs_per_scene,
                                  *cfg.val_size, split=VAL_SEEDS, purpose="stereo validation")
        device = next(model.parameters()).device
        predictor = CroCoStereoPredictor(model, check_rectification=False, device=device,
                                    **self.predictor_options(cfg))
        results = [stereo_metrics(predictor(left, right), disparity, disparity > 0)
                   for left, right, disparity in zip(pairs.first, pairs.second, pairs.disparity)]
        return {f"val_{key}": float(np.mean([r[key] for r in results]))
                for key in ("epe", "bad2")}

    def model_card(self, model, cfg) -> dict[str, Any]:
        return {"model_config": CroCoStereoConfig.named(cfg.model).to_dict(),
                "predictor_options": self.predictor_options(cfg),
                "init": cfg.init}
