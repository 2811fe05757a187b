"""A tiny recipe for the engine tests: a two-layer conv net learns the per-pixel grey level
``0.5 r + 0.3 g + 0.2 b`` of random images generated on the fly. Importing this module
registers it as ``tiny``."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgegeo.training.config import TrainConfig
from edgegeo.training.data import seeded_batches
from edgegeo.training.distributed import unwrap_model
from edgegeo.training.recipes import Recipe, register_recipe

GREY_WEIGHTS = (0.5, 0.3, 0.2)


@dataclass(frozen=True)
class TinyConfig(TrainConfig):
    image_size: int = 16
    width: int = 8
    dropout: float = 0.1

    def validate(self) -> None:
        super().validate()
        if self.image_size < 4:
            raise ValueError(f"config image_size must be >= 4, got {self.image_size}")


def grey_batch(seed: int, batch_size: int, size: int) -> dict[str, torch.Tensor]:
    """Random RGB images (B, 3, size, size) in [0, 1] and their grey level (B, 1, size, size)."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(batch_size, 3, size, size, generator=generator)
    weights = torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
    return {"image": image, "target": (image * weights).sum(1, keepdim=True)}


@register_recipe("tiny")
class TinyRecipe(Recipe):
    config_cls = TinyConfig
    smoke_overrides = {"image_size": 8, "width": 4}

    def build_model(self, cfg: TinyConfig) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, cfg.width, 3, padding=1), nn.GroupNorm(2, cfg.width), nn.ReLU(),
            nn.Dropout(cfg.dropout), nn.Conv2d(cfg.width, 1, 3, padding=1))

    def build_data(self, cfg: TinyConfig, rank, world_size, seed, start_step):
        return seeded_batches(lambda s: grey_batch(s, cfg.batch_size, cfg.image_size),
                              seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg):
        error = (model(batch["image"]) - batch["target"]).abs()
        return error.mean(), {"max_error": error.max()}

    def describe_data(self, cfg: TinyConfig) -> str:
        return f"uniform random {cfg.image_size}x{cfg.image_size} RGB images, generated per step"

    def model_card(self, model, cfg: TinyConfig) -> dict:
        return {"model_config": {"width": cfg.width}}

    def images(self, model, batch, cfg):
        return {"input": batch["image"][:4], "prediction": model(batch["image"][:4]).clamp(0, 1)}

    def evaluate(self, model, cfg: TinyConfig):
        held_out = grey_batch(10_000, 16, cfg.image_size)
        device = next(model.parameters()).device
        prediction = model(held_out["image"].to(device))
        return {"val_l1": F.l1_loss(prediction, held_out["target"].to(device)).item()}


@register_recipe("tiny-bypassing-ddp")
class TinyBypassingDDPRecipe(TinyRecipe):
    """A broken variant whose loss calls the plain module inside the DDP wrapper, so gradients
    are never averaged and replicas drift apart: the engine must notice."""

    def loss(self, model, batch, cfg):
        return super().loss(unwrap_model(model), batch, cfg)
