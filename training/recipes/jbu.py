"""Recipes of the learned JBU upsamplers (FeatUp, Fu et al., ICLR 2024).

* ``jbu`` — the shipped depth model: a ×4 JBU stack (:class:`edgegeo.models.jbu.DepthJBU`)
  trained to upsample ground-truth depth area-downsampled ×4 (invalid-aware, with a little
  noise and random holes) back to full resolution, guided by the RGB image; L1 on valid
  pixels; synthetic training scenes only.
* ``jbu-features`` — the FeatUp feature upsampler: a ×16 JBU stack over the tokens of a frozen
  ViT encoder, trained by multi-view reconstruction (jitter, attention downsampler,
  uncertainty-weighted MSE); see :mod:`edgegeo.training.jbu.features`.

References:

* Fu et al., "FeatUp: A Model-Agnostic Framework for Features at Any Resolution", ICLR 2024 (code:
  https://github.com/mhamilton723/FeatUp).
* Kopf et al., "Joint Bilateral Upsampling", SIGGRAPH 2007.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from edgegeo.data.splits import TEST_SEEDS, TRAIN_SEEDS
from edgegeo.models.jbu import DepthJBU, JBUConfig, JBUPredictor

from ..config import TrainConfig
from ..data import seeded_batches
from ..jbu.data import depth_batch, load_frames
from . import Recipe, register_recipe


@dataclass(frozen=True)
class JBUDepthConfig(TrainConfig):
    """Settings of the ``jbu`` recipe (on top of :class:`TrainConfig`).

    Attributes:
        num_stages, radius, key_dim, correction_hidden: the :class:`JBUConfig`.
        data_dir: pre-rendered training shards (``scene_<seed>``, TRAIN seeds only).
        max_scenes: use the first this many scenes (0 = all).
        max_frames_per_scene: frames used per scene (0 = all).
        crop: side of the full-resolution training crops (a multiple of the scale).
        noise_std: relative Gaussian noise on the low-resolution depth.
        hole_prob: probability that a sample gets 1-3 invalid rectangles.
        loss: ``l1`` (metres) or ``log_l1`` (|log p − log g|).
        eval_dir: held-out shards (TEST seeds) for the model card's metrics.
        eval_frames: frames evaluated (evenly spaced; 0 = all).
        fallback_size: ``W,H`` of the scenes rendered when a shard folder is missing.
    """

    steps: int = 2500
    batch_size: int = 8
    lr: float = 2e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    log_every: int = 25
    image_every: int = 500
    checkpoint_every: int = 250
    num_stages: int = 2
    radius: int = 3
    key_dim: int = 32
    correction_hidden: int = 32
    data_dir: str = "data/synth-train"
    max_scenes: int = 0
    max_frames_per_scene: int = 0
    crop: int = 96
    noise_std: float = 0.005
    hole_prob: float = 0.2
    loss: str = "l1"
    eval_dir: str = "data/synth-test"
    eval_frames: int = 40
    fallback_size: tuple[int, int] = (160, 120)

    def validate(self) -> None:
        super().validate()
        scale = 2 ** self.num_stages
        if self.num_stages < 1 or self.crop < 2 * scale or self.crop % scale:
            raise ValueError(f"config crop must be a multiple of the scale {scale} and at least "
                             f"{2 * scale}, got {self.crop}")
        if self.loss not in ("l1", "log_l1"):
            raise ValueError(f"config loss must be l1 or log_l1, got {self.loss!r}")
        if self.noise_std < 0 or not 0 <= self.hole_prob <= 1:
            raise ValueError("config noise_std must be >= 0 and hole_prob in [0, 1]")

    @property
    def model_config(self) -> JBUConfig:
        return JBUConfig(self.num_stages, self.radius, self.key_dim, self.correction_hidden)


def masked_depth_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1"
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(loss, mask)``: mean L1 (or log-L1) over pixels where both ``target`` and ``pred``
    are valid (> 0); ``(B, 1, H, W)`` metres."""
    mask = (target > 0) & (pred > 0)
    if kind == "log_l1":
        error = (pred.clamp_min(1e-3).log() - target.clamp_min(1e-3).log()).abs()
    else:
        error = (pred - target).abs()
    count = mask.sum().clamp_min(1)
    return (error * mask).sum() / count, mask


def _normalise_for_display(depth: torch.Tensor) -> torch.Tensor:
    high = depth.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return (depth / high).clamp(0, 1)


@register_recipe("jbu")
class JBUDepthRecipe(Recipe):
    config_cls = JBUDepthConfig
    smoke_overrides = {"batch_size": 2, "crop": 32, "max_scenes": 1, "max_frames_per_scene": 4,
                       "eval_frames": 2, "fallback_size": (64, 48), "key_dim": 8,
                       "correction_hidden": 8}

    def build_model(self, cfg: JBUDepthConfig) -> DepthJBU:
        return DepthJBU(cfg.model_config)

    def _frames(self, cfg: JBUDepthConfig):
        if getattr(self, "_cached", None) is None or self._cached[0] != cfg:
            frames, description = load_frames(
                cfg.data_dir, TRAIN_SEEDS, "jbu training", max_scenes=cfg.max_scenes,
                max_frames_per_scene=cfg.max_frames_per_scene, fallback_size=cfg.fallback_size)
            self._cached = (cfg, frames, description)
        return self._cached[1], self._cached[2]

    def build_data(self, cfg: JBUDepthConfig, rank, world_size, seed, start_step):
        frames, _ = self._frames(cfg)
        make = partial(depth_batch, frames, batch_size=cfg.batch_size, crop=cfg.crop,
                       scale=2 ** cfg.num_stages, noise_std=cfg.noise_std,
                       hole_prob=cfg.hole_prob)
        return seeded_batches(lambda s: make(s), seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg: JBUDepthConfig):
        pred = model(batch["depth_lr"], batch["image"])
        loss, mask = masked_depth_loss(pred, batch["depth"], cfg.loss)
        with torch.no_grad():
            l1 = ((pred - batch["depth"]).abs() * mask).sum() / mask.sum().clamp_min(1)
        return loss, {"l1_m": l1, "valid_fraction": mask.float().mean()}

    def describe_data(self, cfg: JBUDepthConfig) -> str:
        _, description = self._frames(cfg)
        scale = 2 ** cfg.num_stages
        return (f"synthetic walk-through RGB-D (TRAIN seeds only): {description}; random "
                f"{cfg.crop}x{cfg.crop} crops and flips; input = GT depth area-downsampled "
                f"x{scale} (invalid-aware) x (1 + {cfg.noise_std} N(0,1)), p={cfg.hole_prob} "
                f"of 1-3 invalid rectangles; target = full-resolution GT; {cfg.loss} on valid "
                f"pixels")

    def model_card(self, model, cfg: JBUDepthConfig) -> dict:
        """Card entries beyond the engine's: ``model_config`` (what ``edgegeo.load`` builds;
        without it the registry reads the same fields from the card's ``config``)."""
        return {"model_config": cfg.model_config.to_dict()}

    def images(self, model, batch, cfg):
        count = min(4, batch["image"].shape[0])
        pred = model(batch["depth_lr"][:count], batch["image"][:count])
        target = batch["depth"][:count]
        scale = target.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
        return {"image": batch["image"][:count],
                "target": _normalise_for_display(target),
                "prediction": (pred / scale).clamp(0, 1),
                "abs_error_x10": ((pred - target).abs() / scale * 10).clamp(0, 1)}

    def evaluate(self, model, cfg: JBUDepthConfig):
        from edgegeo.models.jbu import baselines

        frames, _ = load_frames(cfg.eval_dir, TEST_SEEDS, "jbu evaluation",
                                fallback_size=cfg.fallback_size,
                                max_frames_per_scene=cfg.eval_frames if cfg.eval_frames < 4 else 0)
        samples = baselines.make_samples(frames, 2 ** cfg.num_stages, cfg.eval_frames)
        device = next(model.parameters()).device
        learned = baselines.evaluate(JBUPredictor(model, device=device), samples)
        cubic = baselines.evaluate(baselines.bicubic, samples)
        model.eval()
        return {"test_frames": float(len(samples)), "rmse_m": learned["rmse"],
                "abs_rel": learned["abs_rel"], "a125": learned["a125"],
                "bicubic_rmse_m": cubic["rmse"], "bicubic_abs_rel": cubic["abs_rel"]}


# ----------------------------------------------------------------------------- features

@dataclass(frozen=True)
class JBUFeaturesConfig(TrainConfig):
    """Settings of the ``jbu-features`` recipe (on top of :class:`TrainConfig`).

    Attributes:
        encoder: the frozen encoder: ``auto`` (shipped mono-depth weights, else a mono-depth
            student/teacher run or checkpoint, see ``edgegeo.training.jbu.features``), a
            ``.safetensors``/``.pt`` path, or ``random:<config>`` (untrained; smoke runs).
        image_size: ``(H, W)`` training crops (multiples of the encoder's patch), taken from
            frames resized by ``work_scale``.
        views: jitters per image and step.
        max_zoom: largest jitter zoom; pad_fraction: jitter reflect padding per side.
        key_dim, correction_hidden: of the JBU stages.
        sigma_init, temperature_init: initial spatial σ (units of the radius) and range τ.
        data_dir, max_scenes: training shards (TRAIN seeds).
        eval_dir, eval_images: held-out shards (TEST seeds) and images for the card metrics.
        fallback_size: ``W,H`` of scenes rendered when a shard folder is missing.
    """

    steps: int = 600
    batch_size: int = 4
    lr: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 0.0
    log_every: int = 10
    image_every: int = 0
    checkpoint_every: int = 50
    encoder: str = "auto"
    image_size: tuple[int, int] = (128, 128)
    work_scale: float = 0.5
    views: int = 2
    max_zoom: float = 1.8
    pad_fraction: float = 0.125
    key_dim: int = 32
    correction_hidden: int = 32
    sigma_init: float = 1.0
    temperature_init: float = 1.0
    data_dir: str = "data/synth-train"
    max_scenes: int = 0
    eval_dir: str = "data/synth-test"
    eval_images: int = 16
    fallback_size: tuple[int, int] = (160, 120)

    def validate(self) -> None:
        super().validate()
        if self.views < 1 or self.max_zoom < 1 or self.pad_fraction < 0:
            raise ValueError("config views must be >= 1, max_zoom >= 1, pad_fraction >= 0")
        if min(self.image_size) < 16 or self.work_scale <= 0:
            raise ValueError(f"config image_size must be at least 16x16 and work_scale > 0, "
                             f"got {self.image_size}, {self.work_scale}")


@register_recipe("jbu-features")
class JBUFeaturesRecipe(Recipe):
    config_cls = JBUFeaturesConfig
    smoke_overrides = {"encoder": "random:tiny", "image_size": (32, 32), "batch_size": 2,
                       "views": 1, "max_scenes": 1, "eval_images": 2, "key_dim": 8,
                       "correction_hidden": 8, "fallback_size": (64, 48), "work_scale": 1.0}

    def __init__(self) -> None:
        self._encoders: dict[str, object] = {}
        self._frames: dict[tuple, tuple] = {}

    def encoder(self, cfg: JBUFeaturesConfig):
        """The frozen encoder (loaded once per recipe instance)."""
        from ..jbu.features import load_encoder

        if cfg.encoder not in self._encoders:
            self._encoders[cfg.encoder] = load_encoder(cfg.encoder)
        return self._encoders[cfg.encoder]

    def frames(self, cfg: JBUFeaturesConfig, split=TRAIN_SEEDS, data_dir=None, limit=0):
        key = (data_dir or cfg.data_dir, split.start, cfg.max_scenes, limit)
        if key not in self._frames:
            self._frames[key] = load_frames(
                data_dir or cfg.data_dir, split, "jbu-features " + (
                    "training" if split is TRAIN_SEEDS else "evaluation"),
                max_scenes=cfg.max_scenes if split is TRAIN_SEEDS else 0,
                fallback_size=cfg.fallback_size,
                max_frames_per_scene=limit)
        return self._frames[key]

    def build_model(self, cfg: JBUFeaturesConfig):
        from ..jbu.features import FeatureJBUTrainNet

        return FeatureJBUTrainNet(self.encoder(cfg), cfg.key_dim, cfg.correction_hidden,
                                  cfg.pad_fraction, cfg.sigma_init, cfg.temperature_init)

    def build_data(self, cfg: JBUFeaturesConfig, rank, world_size, seed, start_step):
        from ..jbu.features import feature_batch

        frames, _ = self.frames(cfg)
        return seeded_batches(
            lambda s: feature_batch(frames, s, cfg.batch_size, tuple(cfg.image_size), cfg.views,
                                    cfg.max_zoom, cfg.work_scale),
            seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg):
        return model(batch["image"], batch["jitters"])

    def describe_data(self, cfg: JBUFeaturesConfig) -> str:
        _, description = self.frames(cfg)
        return (f"synthetic RGB frames (TRAIN seeds only, labels unused): {description}; "
                f"resized x{cfg.work_scale:g}, random {cfg.image_size[0]}x{cfg.image_size[1]} "
                f"crops and flips; {cfg.views} jitters per image (pad {cfg.pad_fraction:g}, "
                f"zoom <= {cfg.max_zoom:g}, crop, flip); frozen encoder: "
                f"{self.encoder(cfg).source}")

    def evaluate(self, model, cfg: JBUFeaturesConfig):
        from ..jbu.features import reconstruction_losses

        frames, _ = self.frames(cfg, TEST_SEEDS, cfg.eval_dir,
                                limit=1 if cfg.eval_images < 4 else 0)
        return reconstruction_losses(model, frames, cfg, cfg.eval_images)
