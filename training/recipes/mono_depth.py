"""Depth Anything (Yang et al., CVPR 2024) on edgegeo's synthetic scenes: a teacher trained on
labelled frames, then a student trained from scratch on labelled + teacher-pseudo-labelled images.

Two recipes, one module:

* ``mono-depth-teacher`` — labelled synthetic frames only (GT ``1/depth``, invalid depth
  masked): object-centred renders and room walk-throughs (``python -m
  edgegeo.training.mono.render``), random resized crops across pixel scales, camera
  augmentation (exposure, white balance, blur, noise, JPEG); MiDaS affine-invariant loss +
  ``gradient_weight`` × multi-scale gradient matching. The default network is the
  convolutional ``cnn`` config (``--set model=small`` trains the ViT variant).
* ``mono-depth`` — the student (the shipped model): per step ``B/3`` labelled frames and
  ``2B/3`` unlabelled images (real photos from ``TRAINING_PHOTOS`` heavily cropped, and
  synthetic frames without labels). The frozen teacher pseudo-labels the **clean** unlabelled
  images; the student sees them **strongly perturbed** (colour jitter, grey, Gaussian blur,
  CutMix p = 0.5 with the area-weighted per-region loss) and aligns its last encoder block to
  the frozen teacher encoder's (``1 − cos`` per patch, patches above α = 0.85 ignored). Loss =
  labelled + unlabelled + feature alignment, equal weights. Ablations: ``--set perturb=false``
  (clean student input, no CutMix) and ``--set feature_align=false``.

    edgegeo train mono-depth-teacher --out runs/mono-depth-teacher
    edgegeo train mono-depth --out runs/mono-depth \\
        --set teacher=runs/mono-depth-teacher/mono-depth-teacher.safetensors

References:

* Yang et al., "Depth Anything: Unleashing the Power of Large-Scale Unlabeled Data", CVPR 2024
  (code: https://github.com/LiheYoung/Depth-Anything).
* Ranftl et al., "Towards Robust Monocular Depth Estimation: Mixing Datasets for Zero-shot
  Cross-dataset Transfer", TPAMI 2022.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from edgegeo.data.splits import TRAIN_SEEDS, TRAINING_PHOTOS, VAL_SEEDS
from edgegeo.models.mono_depth import MonoDepthNet

from ..config import TrainConfig
from ..distributed import set_cpu_threads
from ..init_weights import NO_INIT, init_provenance, initialise_from
from ..data import seeded_batches
from ..mono.augment import (PerturbSettings, apply_cutmix, cutmix_boxes, strong_perturbation)
from ..mono.data import (LabelledFrames, generate_frames, labelled_batch,
                         load_labelled_folders, load_shard_frames, load_training_photos,
                         row_prior_disparity, unlabelled_batch)
from ..mono.losses import (FEATURE_MARGIN, affine_invariant_loss, cutmix_affine_invariant_loss,
                           feature_alignment_loss, gradient_matching_loss)
from ..mono.model import load_network, parse_model_spec
from . import Recipe, register_recipe

GENERATE = "generate"
DEFAULT_TEACHER = "runs/mono-depth-teacher/mono-depth-teacher.safetensors"
SMOKE_TEACHER = "runs/mono-depth-teacher-smoke/mono-depth-teacher.safetensors"


@dataclass(frozen=True)
class MonoDepthTeacherConfig(TrainConfig):
    """Teacher settings (the student's extend them).

    Attributes:
        model: network: ``cnn``/``cnn-tiny`` (convolutional), ``tiny``/``small``/``base`` or
            ``sized:DIM,DEPTH,HEADS,FEATURES`` (ViT).
        crop_size: ``(H, W)`` of the training crops, multiples of the patch size.
        crop_scales: each step's crops are ``crop_size`` times one of these (sides rounded to
            patch multiples), drawn per step: the network sees inputs of several pixel sizes,
            so its answer does not hinge on the input size (a CNN otherwise learns positions
            from its zero padding at the one training size).
        crop_area: area fraction of a frame a labelled crop covers (random resized crop).
        train_data: folders of rendered ``scene_*`` shards, comma-separated, or ``generate``
            (render ``generate_scenes`` training scenes in memory: smoke runs, fresh clones).
        camera_augment: pass labelled crops through exposure/white-balance/blur/noise/JPEG.
        style_p: probability that a labelled crop takes a real photo's low-frequency
            amplitude spectrum (FDA photo style; ``TRAINING_PHOTOS``; 0 = off).
        style_beta: range of FDA's window size, a fraction of the crop's short side.
        gradient_weight: weight of MiDaS's gradient-matching loss on labelled images (0 = off).
        gradient_scales: its number of scales.
        val_data: folder of held-out shards (``VAL_SEEDS``, e.g. object scenes of the held-out
            generator setting) for the learning curve, or empty; the curve also uses
            ``val_scenes`` validation rooms.
        max_scenes: use only the first this many shards (0 = all).
        generate_scenes, generate_frames, generate_size: scenes, frames per scene and
            ``(H, W)`` of in-memory data (``train_data=generate``) and of the validation
            frames of the model card's metrics.
        val_scenes: validation scenes (``VAL_SEEDS``) rendered for the card's metrics.
        eval_resolution: short side the card's validation (and the shipped predictor) runs at.
        num_threads: torch CPU threads per process (0 = torch's default).
        init: ``none`` (start from scratch) or weights of the same architecture to start
            from: a teacher continued with a fresh schedule, or a student warm-started from
            its teacher (a CPU-budget departure from the paper, whose student starts from
            DINOv2; the frozen teacher still gives the pseudo-labels and features).
    """

    steps: int = 1500
    batch_size: int = 8
    lr: float = 4e-4
    warmup_steps: int = 100
    image_every: int = 0
    checkpoint_every: int = 100
    log_every: int = 25
    model: str = "cnn"
    crop_size: tuple[int, int] = (160, 224)
    crop_scales: tuple[float, ...] = (1.0, 1.2, 1.4)
    crop_area: tuple[float, float] = (0.15, 1.0)
    train_data: str = "data/mono-objects,data/mono-rooms"
    camera_augment: bool = True
    style_p: float = 0.0
    style_beta: tuple[float, float] = (0.005, 0.02)
    gradient_weight: float = 0.5
    gradient_scales: int = 4
    val_data: str = ""
    max_scenes: int = 0
    generate_scenes: int = 8
    generate_frames: int = 6
    generate_size: tuple[int, int] = (240, 320)
    val_scenes: int = 4
    eval_resolution: int = 224
    num_threads: int = 2
    init: str = NO_INIT

    def validate(self) -> None:
        super().validate()
        network = parse_model_spec(self.model)
        patch = network.encoder.patch_size
        if len(self.crop_size) != 2 or any(s <= 0 or s % patch for s in self.crop_size):
            raise ValueError(f"config crop_size must be two positive multiples of the patch "
                             f"size {patch}, got {self.crop_size}")
        if not self.crop_scales or min(self.crop_scales) <= 0:
            raise ValueError(f"config crop_scales must be positive, got {self.crop_scales}")
        low, high = self.crop_area
        if not 0 < low <= high <= 1:
            raise ValueError(f"config crop_area must satisfy 0 < low <= high <= 1, got "
                             f"{self.crop_area}")
        if self.generate_scenes < 1 or self.generate_frames < 1 or min(self.generate_size) < 8:
            raise ValueError("config generate_scenes/generate_frames must be >= 1 and "
                             "generate_size >= 8 px")
        low, high = self.style_beta
        if not 0 <= self.style_p <= 1 or not 0 < low <= high <= 0.5:
            raise ValueError(f"config style_p must be in [0, 1] and style_beta satisfy "
                             f"0 < low <= high <= 0.5, got {self.style_p}, {self.style_beta}")
        if self.gradient_weight < 0 or self.gradient_scales < 1:
            raise ValueError("config gradient_weight must be >= 0 and gradient_scales >= 1")
        if self.val_scenes < 0 or self.eval_resolution < patch or self.num_threads < 0:
            raise ValueError("config val_scenes and num_threads must be >= 0 and "
                             f"eval_resolution >= {patch}")


@dataclass(frozen=True)
class MonoDepthStudentConfig(MonoDepthTeacherConfig):
    """Student settings on top of the teacher's.

    Attributes:
        batch_size: images per step: a third labelled, two thirds unlabelled (must be a
            multiple of 3).
        teacher: the frozen teacher's ``.safetensors`` (its card gives the architecture).
        photo_fraction: share of real photos in the unlabelled stream (the rest: synthetic
            frames without labels).
        photo_crop_area: area fraction of a photo an unlabelled crop covers.
        perturb: strong perturbation of the student's unlabelled input (colour jitter, grey,
            blur, CutMix); false = the ablation where the student sees the teacher's input.
        cutmix_p: probability that an unlabelled image gets a CutMix box.
        feature_align: the feature-alignment loss to the frozen teacher encoder.
        feature_margin: α; patches whose cosine to the frozen features exceeds it are ignored.
    """

    steps: int = 1200
    batch_size: int = 12
    teacher: str = DEFAULT_TEACHER
    photo_fraction: float = 0.5
    photo_crop_area: tuple[float, float] = (0.05, 0.6)
    perturb: bool = True
    cutmix_p: float = 0.5
    feature_align: bool = True
    feature_margin: float = FEATURE_MARGIN

    def validate(self) -> None:
        super().validate()
        if self.batch_size % 3:
            raise ValueError(f"config batch_size must be a multiple of 3 (1 labelled : 2 "
                             f"unlabelled), got {self.batch_size}")
        if not 0 <= self.photo_fraction <= 1 or not 0 <= self.cutmix_p <= 1:
            raise ValueError("config photo_fraction and cutmix_p must be in [0, 1]")
        low, high = self.photo_crop_area
        if not 0 < low <= high <= 1:
            raise ValueError(f"config photo_crop_area must satisfy 0 < low <= high <= 1, got "
                             f"{self.photo_crop_area}")
        if not -1 <= self.feature_margin <= 1:
            raise ValueError(f"config feature_margin must be in [-1, 1], got "
                             f"{self.feature_margin}")


def crop_size_of_step(cfg: MonoDepthTeacherConfig, seed: int) -> tuple[int, int]:
    """The ``(H, W)`` of one step's crops: ``crop_size`` × a scale of ``crop_scales`` drawn
    from the step's batch seed, sides rounded to multiples of the network's patch size."""
    import numpy as np

    patch = parse_model_spec(cfg.model).encoder.patch_size
    scale = cfg.crop_scales[int(np.random.default_rng([seed, 3]).integers(len(cfg.crop_scales)))]
    return tuple(max(patch, round(side * scale / patch) * patch) for side in cfg.crop_size)


_SMOKE = {"model": "tiny", "crop_size": (32, 48), "crop_scales": (1.0,), "train_data": GENERATE, "generate_scenes": 1,
          "generate_frames": 3, "generate_size": (48, 64), "val_scenes": 1,
          "eval_resolution": 32, "log_every": 2}



def _normalised_for_display(disparity: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` → [0, 1] per image (2nd–98th percentile)."""
    flat = disparity.flatten(1).float()
    low = flat.quantile(0.02, dim=1).view(-1, 1, 1, 1)
    high = flat.quantile(0.98, dim=1).view(-1, 1, 1, 1)
    return ((disparity - low) / (high - low).clamp_min(1e-6)).clamp(0, 1)


@register_recipe("mono-depth-teacher")
class MonoDepthTeacherRecipe(Recipe):
    """The teacher: labelled synthetic frames, MiDaS affine-invariant loss."""

    config_cls = MonoDepthTeacherConfig
    smoke_overrides = {**_SMOKE, "batch_size": 2}

    def __init__(self) -> None:
        self._frames: dict[tuple, LabelledFrames] = {}
        self._photos: list | None = None

    # -- model and data ---------------------------------------------------------------------
    def build_model(self, cfg: MonoDepthTeacherConfig) -> MonoDepthNet:
        set_cpu_threads(cfg.num_threads, cfg.device)
        return initialise_from(MonoDepthNet(parse_model_spec(cfg.model)), cfg.init, "mono-depth")

    def frames(self, cfg: MonoDepthTeacherConfig) -> LabelledFrames:
        """The labelled frames (loaded once per recipe instance)."""
        key = (cfg.train_data, cfg.max_scenes, cfg.generate_scenes, cfg.generate_frames,
               tuple(cfg.generate_size))
        if key not in self._frames:
            if cfg.train_data == GENERATE:
                seeds = TRAIN_SEEDS[:cfg.generate_scenes]
                self._frames[key] = generate_frames(seeds, cfg.generate_frames,
                                                    *cfg.generate_size)
            else:
                self._frames[key] = load_labelled_folders(cfg.train_data, cfg.max_scenes or None)
        return self._frames[key]

    def photos(self) -> list:
        """The real photos (``TRAINING_PHOTOS``, loaded once)."""
        if self._photos is None:
            self._photos = load_training_photos()
        return self._photos

    def labelled(self, cfg, frames: LabelledFrames, count: int, crop: tuple[int, int],
                 seed: int) -> dict[str, torch.Tensor]:
        """A labelled batch with the config's augmentations."""
        return labelled_batch(frames, count, crop, seed, tuple(cfg.crop_area),
                              camera=cfg.camera_augment,
                              styles=self.photos() if cfg.style_p > 0 else None,
                              style_p=cfg.style_p, style_beta=tuple(cfg.style_beta))

    def build_data(self, cfg, rank, world_size, seed, start_step):
        frames = self.frames(cfg)
        return seeded_batches(
            lambda s: self.labelled(cfg, frames, cfg.batch_size, crop_size_of_step(cfg, s), s),
            seed=seed, rank=rank, start_step=start_step)

    # -- loss -------------------------------------------------------------------------------
    def labelled_loss(self, prediction, batch, cfg) -> tuple[torch.Tensor, dict]:
        """Affine-invariant L1 + ``gradient_weight`` × gradient matching against GT, batch
        mean, and its parts as scalars."""
        labelled = affine_invariant_loss(prediction, batch["disparity"], batch["valid"]).mean()
        scalars = {"labelled": labelled.detach()}
        if cfg.gradient_weight > 0:
            gradient = gradient_matching_loss(prediction, batch["disparity"], batch["valid"],
                                              cfg.gradient_scales).mean()
            scalars["gradient"] = gradient.detach()
            labelled = labelled + cfg.gradient_weight * gradient
        return labelled, scalars

    def loss(self, model, batch, cfg):
        return self.labelled_loss(model(batch["image"]), batch, cfg)

    def describe_data(self, cfg) -> str:
        frames = self.frames(cfg)
        return (f"labelled: {frames.source}; GT disparity 1/depth (depth 0 masked); random "
                f"resized crops (area {cfg.crop_area[0]:g}–{cfg.crop_area[1]:g}) to "
                f"{cfg.crop_size[0]}x{cfg.crop_size[1]} × {cfg.crop_scales} (per step), "
                "horizontal flips"
                + ("; camera augmentation (exposure, white balance, tone, blur, noise, JPEG)"
                   if cfg.camera_augment else "")
                + (f"; FDA photo style (p {cfg.style_p:g}, beta {cfg.style_beta[0]:g}–"
                   f"{cfg.style_beta[1]:g}, scikit-image TRAINING_PHOTOS)" if cfg.style_p > 0
                   else ""))

    # -- logging and card metrics -----------------------------------------------------------
    def images(self, model, batch, cfg):
        images = batch["image"][:4]
        target = batch["disparity"][:4]
        return {"input": images, "gt_disparity": _normalised_for_display(target),
                "prediction": _normalised_for_display(model(images))}

    def curve_frames(self, cfg) -> dict[str, LabelledFrames]:
        """The learning curve's held-out frames (cached): ``val_data`` shards as ``objects``
        and ``val_scenes`` validation rooms (2 frames each) as ``rooms``."""
        if not hasattr(self, "_curve"):
            self._curve = {}
            if cfg.val_data:
                self._curve["objects"] = load_shard_frames(cfg.val_data)
            if cfg.val_scenes:
                self._curve["rooms"] = generate_frames(
                    VAL_SEEDS[:cfg.val_scenes], 2, *cfg.generate_size, split=VAL_SEEDS,
                    purpose="mono-depth validation")
        return self._curve

    def validate(self, model, cfg) -> dict[str, float]:
        """The learning curve: per held-out set, mean AbsRel (after LS scale + shift in
        disparity) of the model at ``eval_resolution`` and its ratio to the image-row prior's
        (< 1 = better than the prior)."""
        import numpy as np

        from edgegeo.metrics.depth import relative_depth_metrics
        from edgegeo.models.mono_depth import MonoDepthPredictor

        device = next(model.parameters()).device
        predictor = MonoDepthPredictor(model, resolution=cfg.eval_resolution, device=device)
        curve = {}
        for name, frames in self.curve_frames(cfg).items():
            model_err, prior_err = [], []
            for rgb, depth in zip(frames.rgb, frames.depth):
                valid = depth > 0
                model_err.append(relative_depth_metrics(predictor(rgb), depth, valid)["abs_rel"])
                prior = row_prior_disparity(*depth.shape)
                prior_err.append(relative_depth_metrics(prior, depth, valid)["abs_rel"])
            curve[f"{name}_abs_rel"] = float(np.mean(model_err))
            curve[f"{name}_vs_row_prior"] = float(np.mean(model_err) / np.mean(prior_err))
        return curve

    def evaluate(self, model, cfg) -> dict[str, float]:
        """AbsRel and δ1 (after per-image scale + shift in disparity space) on rendered
        validation scenes (``VAL_SEEDS``)."""
        if cfg.val_scenes == 0:
            return {}
        import numpy as np

        from edgegeo.metrics.depth import relative_depth_metrics
        from edgegeo.models.mono_depth import MonoDepthPredictor

        frames = generate_frames(VAL_SEEDS[:cfg.val_scenes], 2, *cfg.generate_size,
                                 split=VAL_SEEDS, purpose="mono-depth validation")
        device = next(model.parameters()).device
        predictor = MonoDepthPredictor(model, resolution=cfg.eval_resolution, device=device)
        results = [relative_depth_metrics(predictor(rgb), depth, depth > 0)
                   for rgb, depth in zip(frames.rgb, frames.depth)]
        return {f"val_{key}": float(np.mean([r[key] for r in results]))
                for key in ("abs_rel", "a125")}

    def model_card(self, model, cfg) -> dict[str, Any]:
        """Entries for the model card beyond the engine's: ``model_config`` (what
        ``edgegeo.load`` rebuilds the network from) and the predictor's working resolution
        (the short side the model was validated at)."""
        return {"model_config": parse_model_spec(cfg.model).to_dict(),
                "predictor_options": {"resolution": cfg.eval_resolution},
                **init_provenance(cfg.init)}


@register_recipe("mono-depth")
class MonoDepthStudentRecipe(MonoDepthTeacherRecipe):
    """The student: labelled + perturbed pseudo-labelled images, feature alignment."""

    config_cls = MonoDepthStudentConfig
    smoke_overrides = {**_SMOKE, "batch_size": 3, "teacher": SMOKE_TEACHER,
                       "photo_crop_area": (0.2, 0.6)}

    def __init__(self) -> None:
        super().__init__()
        self._teacher: MonoDepthNet | None = None

    def build_model(self, cfg: MonoDepthStudentConfig) -> MonoDepthNet:
        student = super().build_model(cfg)
        teacher = self.teacher(cfg)
        if teacher.config.encoder.embed_dim != student.config.encoder.embed_dim:
            raise ValueError(f"feature alignment needs the student's token width "
                             f"({student.config.encoder.embed_dim}) to equal the teacher's "
                             f"({teacher.config.encoder.embed_dim}); use the teacher's model")
        if teacher.patch_size != student.patch_size:
            raise ValueError("student and teacher must share the patch size")
        return student

    def teacher(self, cfg: MonoDepthStudentConfig,
                device: torch.device | str = "cpu") -> MonoDepthNet:
        """The frozen teacher (eval mode, no gradients), on ``device``."""
        if self._teacher is None:
            self._teacher = load_network(cfg.teacher)
        if next(self._teacher.parameters()).device != torch.device(device):
            self._teacher = self._teacher.to(device)
        return self._teacher

    def build_data(self, cfg, rank, world_size, seed, start_step):
        frames, photos = self.frames(cfg), self.photos()
        n_lab = cfg.batch_size // 3

        def make(s: int) -> dict[str, Any]:
            crop = crop_size_of_step(cfg, s)
            batch = self.labelled(cfg, frames, n_lab, crop, s)
            batch["unlabelled"] = unlabelled_batch(
                photos, frames, cfg.batch_size - n_lab, crop, s + 1, cfg.photo_fraction,
                tuple(cfg.photo_crop_area), tuple(cfg.crop_area))
            return batch

        return seeded_batches(make, seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg):
        labelled_images, clean = batch["image"], batch["unlabelled"]
        n_lab, n_unl = labelled_images.shape[0], clean.shape[0]
        teacher = self.teacher(cfg, clean.device)
        with torch.no_grad():
            pseudo, frozen_tokens = teacher(clean, return_tokens=True)
        pseudo, frozen_tokens = pseudo.float(), frozen_tokens.float()

        height, width = clean.shape[-2:]
        if cfg.perturb:
            # Per-step randomness from the global RNG the engine seeds per (run, rank, step).
            generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
            settings = PerturbSettings(cutmix_p=cfg.cutmix_p)
            box, token_box, partner = cutmix_boxes(n_unl, height, width, teacher.patch_size,
                                                   generator, settings)
            box, token_box = box.to(clean.device), token_box.to(clean.device)
            partner = partner.to(clean.device)
            student_input = apply_cutmix(strong_perturbation(clean, generator, settings),
                                         box, partner)
        else:
            box = torch.zeros(n_unl, 1, height, width, dtype=torch.bool, device=clean.device)
            token_box = torch.zeros(frozen_tokens.shape[:2], dtype=torch.bool,
                                    device=clean.device)
            partner = torch.arange(n_unl, device=clean.device)
            student_input = clean

        prediction, tokens = model(torch.cat([labelled_images, student_input]),
                                   return_tokens=True)
        labelled, scalars = self.labelled_loss(prediction[:n_lab], batch, cfg)
        unlabelled = cutmix_affine_invariant_loss(prediction[n_lab:], pseudo, pseudo[partner],
                                                  box).mean()
        scalars.update(unlabelled=unlabelled.detach(),
                       cutmix_fraction=box.flatten(1).any(1).float().mean())
        total = labelled + unlabelled
        target_tokens = torch.where(token_box.unsqueeze(-1), frozen_tokens[partner],
                                    frozen_tokens)
        if cfg.feature_align:
            feature = feature_alignment_loss(tokens[n_lab:], target_tokens,
                                             cfg.feature_margin).mean()
            total = total + feature
        else:
            feature = torch.zeros((), device=tokens.device)
        with torch.no_grad():
            cosine = torch.nn.functional.cosine_similarity(tokens[n_lab:].float(),
                                                           target_tokens, dim=-1)
        scalars.update(feature=feature.detach(), feature_cos=cosine.mean(),
                       feature_kept=(cosine < cfg.feature_margin).float().mean())
        return total, scalars

    def describe_data(self, cfg) -> str:
        frames = self.frames(cfg)
        return (f"labelled (1/3 of each batch): {frames.source}, GT disparity 1/depth, crops "
                f"(area {cfg.crop_area[0]:g}–{cfg.crop_area[1]:g}) to "
                f"{cfg.crop_size[0]}x{cfg.crop_size[1]} + flips; unlabelled (2/3): "
                f"{cfg.photo_fraction:.0%} real photos ({len(TRAINING_PHOTOS)} scikit-image "
                f"TRAINING_PHOTOS, random resized crops of area {cfg.photo_crop_area[0]:g}–"
                f"{cfg.photo_crop_area[1]:g}, aspect jitter, flips), the rest the synthetic "
                f"frames without labels; pseudo-labels and frozen features from {cfg.teacher}; "
                f"perturb={cfg.perturb} (colour jitter, grey, blur, CutMix p={cfg.cutmix_p:g}), "
                f"feature_align={cfg.feature_align} (α={cfg.feature_margin:g})")

    def model_card(self, model, cfg: MonoDepthStudentConfig) -> dict[str, Any]:
        """The teacher's entries (``init_from`` included) plus the frozen teacher's weights."""
        return {**super().model_card(model, cfg), "teacher": cfg.teacher}

    def images(self, model, batch, cfg):
        clean = batch["unlabelled"][:4]
        teacher = self.teacher(cfg, clean.device)
        return {"unlabelled": clean, "pseudo_label": _normalised_for_display(teacher(clean)),
                "prediction": _normalised_for_display(model(clean))}
