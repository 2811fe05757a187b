"""The ``stereo`` recipe: the cost-volume network (:mod:`edgegeo.models.stereo`) from scratch
on rendered rooms and procedural layered pairs, one CPU core.

    edgegeo data render --rig stereo --out data/stereo-wide --seed 100 --scenes 160 \\
        --frames 8 --width 320 --height 240 --baseline-range 0.08 0.40
    edgegeo train stereo --out runs/stereo --set train_data=data/stereo-wide
    edgegeo train stereo --out runs/stereo-residual --set model=residual ...   # the ablation

Half the samples are procedural layered pairs (largest disparity log-uniform in 8–192 px,
thin bars and holes), half rendered rooms (baselines 8–40 cm, rescaled ×0.7–1.6); every view
gets its own photometric change (``training.stereo.data``). The loss supervises every level
and the coarse volume (``training.stereo.losses``). Every ``val_every`` steps the curve point
on held-out pairs (rendered ``VAL_SEEDS`` rooms and layered pairs of a fixed seed) is logged
next to the best constant disparity and OpenCV SGBM on the same pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgegeo.data.splits import TRAIN_SEEDS, VAL_SEEDS, check_seeds
from edgegeo.data.synthetic.layered_stereo import LayeredStereoConfig, layered_stereo_pair
from edgegeo.models.stereo import CostVolumeStereo, StereoConfig, StereoPredictor

from ..config import TrainConfig
from ..croco.data import TwoViewImages, load_two_view_shards
from ..data import seeded_batches
from ..distributed import set_cpu_threads
from ..init_weights import NO_INIT, init_provenance, load_with_added_stages
from ..stereo.data import PhotometricJitter, stereo_training_batch
from ..stereo.losses import stereo_loss
from . import Recipe, register_recipe

GENERATE = "generate"
LAYERED = "layered"
VAL_LAYERED_SEED = 424_242


@dataclass(frozen=True)
class StereoTrainConfig(TrainConfig):
    """``stereo`` settings.

    Attributes:
        model: named :class:`StereoConfig`: ``small``, ``propagate`` and ``fine`` (edge models),
            ``residual`` and ``croco`` (ablations), ``tiny`` (smoke runs).
        init: ``none`` (random initialisation); for ``model=croco`` the ``croco`` weights
            (``.safetensors``) its ViT encoder starts from; otherwise earlier ``stereo``
            weights the run starts from (a warm start), where a stage those weights lack
            (``fine`` or ``propagate`` on ``small`` weights) keeps its identity initialisation.
        crop_size: ``(H, W)`` training crops, multiples of 32.
        train_data: folder (or packed ``.npz``) of ``--rig stereo`` shards, ``generate``
            (render a few in memory: smoke runs) or ``layered`` (layered pairs only).
        layered_share: fraction of samples drawn as layered pairs.
        layered_max_disparity, layered_min_disparity: the per-pair largest disparity is
            log-uniform between these, pixels.
        thin_share, hole_share: layered shapes that are thin bars / polygons with holes.
        scale_range: rendered pairs are resized by a log-uniform factor in this range.
        max_scenes: use only the first this many shards (0 = all).
        val_scenes, val_layered: held-out pairs of the curve (rendered ``VAL_SEEDS`` scenes,
            one pair each, and layered pairs), at ``val_size``.
        local_ce: weight of the local volumes' cross-entropy at ¼ and ½ (0 = only the
            disparity losses train them).
        num_threads: torch CPU threads (0 = torch's default).
    """

    steps: int = 12_000
    batch_size: int = 4
    lr: float = 1e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    log_every: int = 50
    image_every: int = 1000
    checkpoint_every: int = 250
    val_every: int = 500
    model: str = "small"
    init: str = "none"
    crop_size: tuple[int, int] = (128, 256)
    train_data: str = "data/stereo-wide"
    layered_share: float = 0.5
    layered_max_disparity: float = 192.0
    layered_min_disparity: float = 8.0
    thin_share: float = 0.2
    hole_share: float = 0.3
    scale_range: tuple[float, float] = (0.7, 1.6)
    max_scenes: int = 0
    val_scenes: int = 12
    val_layered: int = 12
    val_size: tuple[int, int] = (240, 320)
    local_ce: float = 0.0
    num_threads: int = 1

    def validate(self) -> None:
        super().validate()
        if len(self.crop_size) != 2 or any(s <= 0 or s % 32 for s in self.crop_size):
            raise ValueError(f"config crop_size must be two positive multiples of 32, got "
                             f"{self.crop_size}")
        if self.local_ce < 0:
            raise ValueError(f"config local_ce must be >= 0, got {self.local_ce}")
        if not 0 <= self.layered_share <= 1:
            raise ValueError(f"config layered_share must be in [0, 1], got {self.layered_share}")
        if self.train_data == LAYERED and self.layered_share != 1:
            raise ValueError("config train_data=layered draws only layered pairs: set "
                             "layered_share=1")
        if not 0 < self.layered_min_disparity <= self.layered_max_disparity:
            raise ValueError("config needs 0 < layered_min_disparity <= layered_max_disparity")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"config scale_range must satisfy 0 < low <= high, got "
                             f"{self.scale_range}")


def layered_config(cfg: StereoTrainConfig) -> LayeredStereoConfig:
    return LayeredStereoConfig(max_disparity=cfg.layered_max_disparity,
                               thin_share=cfg.thin_share, hole_share=cfg.hole_share)


def render_stereo_pairs(seeds, size: tuple[int, int], split: range, purpose: str,
                        per_scene: int = 1) -> TwoViewImages:
    """Rectified pairs (baselines 8–40 cm) of freshly generated scenes, ``size = (H, W)``."""
    from edgegeo.data.synthetic import generate_scene, stereo_pair

    seeds = list(seeds)
    check_seeds(seeds, split, purpose)
    first, second, disparity = [], [], []
    for seed in seeds:
        scene = generate_scene(seed)
        for index in range(per_scene):
            pair = stereo_pair(scene, size[1], size[0], seed=seed * 1_000_003 + index,
                               baseline_range_m=(0.08, 0.40))
            first.append(pair.left.rgb)
            second.append(pair.right.rgb)
            disparity.append(pair.disparity)
    return TwoViewImages(np.stack(first), np.stack(second),
                         f"{len(seeds)} scenes rendered in memory (seeds {seeds[0]}–{seeds[-1]})",
                         np.stack(disparity))


@register_recipe("stereo")
class StereoRecipe(Recipe):
    """The cost-volume stereo network on rendered and layered pairs."""

    config_cls = StereoTrainConfig
    smoke_overrides = {"model": "tiny", "crop_size": (32, 64), "train_data": GENERATE,
                       "layered_max_disparity": 24.0, "layered_min_disparity": 4.0,
                       "val_scenes": 1, "val_layered": 1, "val_size": (48, 64),
                       "batch_size": 2}

    def __init__(self) -> None:
        self._pairs: dict[tuple, TwoViewImages] = {}
        self._validation: dict[tuple, tuple[list, dict[str, float]]] = {}

    def build_model(self, cfg: StereoTrainConfig) -> CostVolumeStereo:
        set_cpu_threads(cfg.num_threads, cfg.device)
        model = CostVolumeStereo(StereoConfig.named(cfg.model))
        if cfg.init == NO_INIT:
            return model
        from edgegeo.weights_io import load_weights

        if model.config.croco_channels:
            prefix = "backbone."
            model.croco.load_state_dict({k[len(prefix):]: v for k, v in
                                         load_weights(cfg.init).items()
                                         if k.startswith(prefix)})
            return model
        return warm_start(model, load_weights(cfg.init), cfg.init)

    def pairs(self, cfg: StereoTrainConfig) -> TwoViewImages | None:
        if cfg.train_data == LAYERED:
            return None
        key = (cfg.train_data, cfg.max_scenes)
        if key not in self._pairs:
            if cfg.train_data == GENERATE:
                self._pairs[key] = render_stereo_pairs(TRAIN_SEEDS[:1], (64, 96), TRAIN_SEEDS,
                                                       "stereo training", per_scene=2)
            else:
                self._pairs[key] = load_two_view_shards(cfg.train_data, "stereo",
                                                        cfg.max_scenes, TRAIN_SEEDS)
        return self._pairs[key]

    def build_data(self, cfg, rank, world_size, seed, start_step):
        pairs, layered, jitter = self.pairs(cfg), layered_config(cfg), PhotometricJitter()
        return seeded_batches(
            lambda s: stereo_training_batch(cfg.batch_size, tuple(cfg.crop_size), s, pairs,
                                            cfg.layered_share, layered,
                                            cfg.layered_min_disparity, tuple(cfg.scale_range),
                                            jitter),
            seed=seed, rank=rank, start_step=start_step)

    def loss(self, model, batch, cfg):
        out = model(batch["left"], batch["right"], intermediates=True)
        return stereo_loss(out, batch["disparity"], batch["valid"],
                           StereoConfig.named(cfg.model).max_disparity, cfg.local_ce)

    def describe_data(self, cfg) -> str:
        layered = (f"{cfg.layered_share:.0%} procedural layered pairs (largest disparity "
                   f"log-uniform {cfg.layered_min_disparity:g}–{cfg.layered_max_disparity:g} "
                   f"px, thin bars {cfg.thin_share:.0%}, holes {cfg.hole_share:.0%})")
        if cfg.train_data == LAYERED:
            return f"{layered}, crops {cfg.crop_size[0]}x{cfg.crop_size[1]}"
        return (f"{layered}, the rest {self.pairs(cfg).source} rescaled ×{cfg.scale_range[0]:g}–"
                f"{cfg.scale_range[1]:g}; crops {cfg.crop_size[0]}x{cfg.crop_size[1]}, "
                "per-view gain/colour/gamma/contrast/blur/noise, right-view vertical offsets "
                "≤ 0.7 px, vertical flips")

    def images(self, model, batch, cfg):
        left, right = batch["left"][:4], batch["right"][:4]
        out = model(left, right)
        high = max(1.0, float(batch["disparity"][:4].max()))
        return {"left": left, "right": right,
                "gt_disparity": (batch["disparity"][:4] / high).clamp(0, 1),
                "disparity": (out[:, :1] / high).clamp(0, 1),
                "confidence": torch.exp(-out[:, 1:]) / np.exp(3.0)}

    def validation_pairs(self, cfg: StereoTrainConfig) -> tuple[list, dict[str, float]]:
        """The held-out ``(name, left, right, gt)`` pairs of the curve and the baselines' scores
        on them (best constant: the median GT disparity; OpenCV SGBM), made once per run."""
        key = (cfg.val_scenes, cfg.val_layered, tuple(cfg.val_size))
        if key in self._validation:
            return self._validation[key]
        from edgegeo.baselines.sgbm import sgbm_disparity

        samples = []
        if cfg.val_scenes:
            rendered = render_stereo_pairs(VAL_SEEDS[:cfg.val_scenes], tuple(cfg.val_size),
                                           VAL_SEEDS, "stereo validation")
            samples += [("rendered", a, b, d) for a, b, d in
                        zip(rendered.first, rendered.second, rendered.disparity)]
        rng = np.random.default_rng(VAL_LAYERED_SEED)
        layered = layered_config(cfg)
        samples += [("layered", *layered_stereo_pair(rng, *cfg.val_size, layered))
                    for _ in range(cfg.val_layered)]
        baselines: dict[str, float] = {}
        for kind in ("rendered", "layered"):
            chosen = [s for s in samples if s[0] == kind]
            if not chosen:
                continue
            constant = float(np.median(np.concatenate([d[d > 0] for *_, d in chosen])))
            baselines.update(_scores(f"{kind}_constant", [np.full_like(d, constant)
                                                           for *_, d in chosen], chosen))
            baselines.update(_scores(f"{kind}_sgbm", [sgbm_disparity(a, b) for _, a, b, _ in
                                                      chosen], chosen))
        self._validation[key] = (samples, baselines)
        return self._validation[key]

    def validate(self, model, cfg) -> dict[str, float]:
        samples, baselines = self.validation_pairs(cfg)
        predictor = StereoPredictor(model, check_rectification=False,
                                    device=next(model.parameters()).device)
        scores = dict(baselines)
        for kind in ("rendered", "layered"):
            chosen = [s for s in samples if s[0] == kind]
            if chosen:
                scores.update(_scores(kind, [predictor(a, b) for _, a, b, _ in chosen], chosen))
        return scores

    def evaluate(self, model, cfg) -> dict[str, float]:
        """The held-out curve's last point (model and baselines) for the card."""
        return self.validate(model, cfg)

    def model_card(self, model, cfg: StereoTrainConfig) -> dict[str, Any]:
        card = {"model_config": StereoConfig.named(cfg.model).to_dict(), "init": cfg.init}
        if cfg.init != NO_INIT and not model.config.croco_channels:
            card.update(init_provenance(cfg.init))
        return card


ADDED_STAGES = ("fine.", "refine1.", "select4.", "select2.")
"""Parameter prefixes of the stages a warm start may add to earlier weights."""


def warm_start(model: CostVolumeStereo, weights: dict[str, torch.Tensor], source: str
               ) -> CostVolumeStereo:
    """Load earlier ``stereo`` weights into ``model``; only parameters of :data:`ADDED_STAGES`
    may be missing from them (they keep their identity initialisation).

    Raises:
        ValueError: the weights hold tensors ``model`` lacks, miss others, or differ in shape.
    """
    return load_with_added_stages(model, weights, source, "stereo", ADDED_STAGES)


def _scores(prefix: str, predictions: list[np.ndarray], samples: list) -> dict[str, float]:
    """Mean EPE and bad-2 (all GT pixels) of ``predictions`` against the samples' GT."""
    from edgegeo.metrics.stereo import stereo_metrics

    results = [stereo_metrics(p, d, d > 0) for p, (*_, d) in zip(predictions, samples)]
    return {f"{prefix}_{key}": float(np.mean([r[key] for r in results]))
            for key in ("epe", "bad2")}
