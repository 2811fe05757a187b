"""Multi-view depth on posed synthetic walk-throughs: the ``mvs`` recipe.

Each sample is a reference frame, ``num_views − 1`` source frames of the same walk-through and
their GT depth. The default is the ``planes`` design (``edgegeo.models.mvs.network``): the
correlation volume, a U-Net that corrects the volume's plane logits, and SimpleRecon's losses
(multi-scale log-L1 + gradient + normal + 0.2 × multi-view) **plus cross-entropy against the
GT plane on the raw volume and on the corrected logits** — the matching features are supervised
directly from the first step instead of only through the final depth. SimpleRecon's design is
the same recipe with ``--set decoder=depth --set cost_volume=metadata --set num_views=8``
(``cost_volume=dot`` for its ablation).

    edgegeo train mvs --out runs/mvs
    edgegeo train mvs --out runs/mvs-metadata --set cost_volume=metadata   # SimpleRecon's claim
    edgegeo train mvs --out runs/mvs-nosup --set volume_ce=0 --set plane_ce=0   # ablation
    edgegeo train mvs --out runs/mvs-local --set model=local --set init=runs/mvs/mvs.safetensors
    edgegeo train mvs --out runs/mvs-context --set model=context --set init=runs/mvs-local/mvs.safetensors
    edgegeo train mvs --out runs/mvs-stream --set model=context --set init=runs/mvs-context/mvs.safetensors \
        --set steps=1200 --set lr=1e-4 --set stream_sources_p=0.5
    edgegeo train mvs --out runs/mvs-stream-all --set model=context --set init=runs/mvs-stream/mvs.safetensors \
        --set steps=1200 --set lr=1e-4 --set stream_sources_p=1.0
    # the shipped chain: planes → local → context → stream-source fine-tunes (model card)
    python -m edgegeo.training.mvs.hints --data data/mvs-walk384 --out data/mvs-hints384
    edgegeo train mvs --out runs/mvs-hint --set model=hinted --set init=<mvs weights> \
        --set train_data=data/mvs-walk384 --set hint_data=data/mvs-hints384 ...
    # a depth hint from the fused map (DoubleTake); measured, not shipped (benchmark_notes.md)

Depth planes: 64, log-spaced over **0.25–8 m** (SimpleRecon's ScanNet range is 0.25–5 m). Our
rooms are larger: on 40 of the ``data/synth-train`` walk-throughs 13.8 % of GT pixels lie beyond
5 m but only 2.3 % beyond 8 m (none nearer than 0.25 m), and 8 m costs little resolution — a
plane step of 5.7 % of depth instead of 4.9 %.

Cost. Frames are 256×192 (the predictor's working size); the reference is a random 128×96 crop
of its frame while the 7 sources stay whole, so matching happens at the inference pixel scale
but the metadata MLP and the U-Net — most of the cost — run on a quarter of the pixels. On the
2-core development machine (shared, load average ≈ 8) a default step (batch 4) took 4.6–7.1 s
with one torch thread and ≈ 19 s with two (thread contention): prefer ``--set num_threads=1``
on a busy machine. Rendering the 120 default walk-throughs takes about 10 minutes.

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgegeo.data.splits import TRAIN_SEEDS, VAL_SEEDS
from edgegeo.geometry.planesweep import log_depth_planes
from edgegeo.models.mvs.config import COST_VOLUMES, DECODERS, NAMED_CONFIGS, SIZE_MULTIPLE
from edgegeo.models.mvs.losses import LOSS_WEIGHTS, PLANE_LOSS_WEIGHTS, mvs_loss
from edgegeo.models.mvs.model import MVSNet

from ..config import TrainConfig
from ..batchnorm import recalibrate_batchnorm
from ..distributed import set_cpu_threads
from ..init_weights import NO_INIT, init_provenance, initialise_from
from ..data import seeded_batches
from ..mvs.cards import network_config
from ..mvs.confidence import F_TIE, choose_min_confidence
from ..mvs.data import SequenceSet, generate_sequences, load_shard_sequences, mvs_batch
from . import Recipe, register_recipe

GENERATE = "generate"
CURVE_TUPLES = 16
CURVE_SEED = 12345


ADDED_STAGES = ("matching_encoder.fine.", "local_refine.", "matching_encoder.context.",
                "matching_encoder.full.", "full_refine.", "network.hint_encoder.",
                "network.decoder.hint_head.")
"""Parameter prefixes of the stages a warm start may add to earlier weights (the ½-resolution
local volume of ``model=local``, the matching encoder's ⅛ context stage of ``model=context``,
the full-resolution local volume of ``model=full``, the hint's layers of ``model=hinted``)."""


@dataclass(frozen=True)
class MVSConfig(TrainConfig):
    """``mvs`` settings.

    Attributes:
        model: named network (``MVSNetConfig.named``): ``small`` (SimpleRecon's sizes),
            ``matching`` (the same sizes, as the planes design), ``local`` (``matching`` plus
            the ½-resolution local depth volume), ``context`` (``local`` plus the matching
            encoder's ⅛ context stage), ``full`` (``context`` plus the full-resolution local
            depth volume), ``tiny`` for smoke runs.
        cost_volume: one of ``COST_VOLUMES`` (``correlation`` for the planes design;
            SimpleRecon: ``metadata``, its ablation ``dot``).
        decoder: ``planes`` (the volume's logits corrected, soft-argmin) or ``depth``
            (SimpleRecon's sigmoid depth heads).
        volume_ce, plane_ce: weights of the cross-entropy against the GT plane on the raw
            volume's logits and on the corrected logits (``planes`` decoder only).
        local_ce: weight of the cross-entropy against the GT hypothesis of the ½-resolution
            local volume (``model=local``).
        full_ce: the same for the full-resolution local volume (``model=full``).
        num_views: N, the reference plus N − 1 sources (SimpleRecon: 8).
        num_planes: depth planes of the sweep.
        depth_range: nearest and farthest plane, metres (also the output range).
        mlp_hidden: hidden widths of the metadata MLP (SimpleRecon: 128, 128).
        image_size: ``(H, W)`` of the frames (multiples of 32) — also the predictor's working
            resolution.
        crop_size: ``(h, w)`` reference crop (multiples of 32, ≤ image_size; equal = whole
            frames); sources stay whole frames.
        train_data: ``generate`` (render ``generate_scenes`` walk-throughs of training seeds
            in memory at ``image_size``) or a folder of ``scene_*`` walk-through shards
            (resized to ``image_size``).
        max_scenes: use only the first this many shards (0 = all).
        hint_data: ``""``, or a folder of depth hints for the shards of ``train_data``
            (``python -m edgegeo.training.mvs.hints``; only shards with hints are used) —
            required by, and only for, ``model=hinted``.
        hint_drop_p: chance a tuple's hint is zeroed (a stream's first keyframes have none).
        generate_scenes, generate_frames, generate_fps: in-memory walk-throughs: how many,
            frames each, and frame rate (0.35 m/s walking: 7 cm between frames at 5 fps).
        source_pose_range: pose distances (DeepVideoMVS measure) sources are drawn from.
        drop_sources_p: chance a tuple keeps only ``min_sources … N − 2`` real sources (the
            rest padding), so the model also works while a stream's buffer fills.
        min_sources: fewest real sources a tuple keeps.
        stream_sources_p: chance a tuple's sources are those the keyframe stream would pick at
            test time (earlier keyframes, about 15 cm away) instead of random frames on both
            sides of the reference in ``source_pose_range``.
        val_scenes, val_frames: validation walk-throughs (``VAL_SEEDS``) for the model card's
            metrics, run through the keyframe stream as at test time.
        confidence_scenes: validation walk-throughs the inference confidence threshold
            (``MVSNetConfig.min_confidence``) is chosen on after training (``planes`` decoder;
            0 = keep every pixel).
        planar_prior: the predictor snaps depth on planar, similarly coloured regions to
            their plane (:mod:`edgegeo.models.mvs.planar`, its default parameters; ``planes``
            decoder): written to the card's ``predictor_options`` and applied when the
            confidence threshold is chosen.
        photometric: the predictor refines its depth by a ZNCC search over its sources
            (:mod:`edgegeo.models.mvs.photometric`, its default parameters): written to the
            card's ``predictor_options``; the confidence threshold is chosen without it (it
            searches around the depth a threshold keeps, at about half a second per keyframe).
        recalibration_batches: whole-frame batches (training tuples, no crop) the BatchNorm
            running statistics are re-estimated on after training (0 = keep the running
            averages of the crops): the crops' statistics do not fit whole frames.
        num_threads: torch CPU threads per process (0 = torch's default).
        init: weights of an earlier ``mvs`` run with the same network settings to start from
            (a fresh schedule: a warm restart), or ``none`` (random initialisation); the
            stages of :data:`ADDED_STAGES` may be missing from them (``model=local`` on
            ``matching`` weights, ``model=context`` on ``local`` weights, ``model=full`` on
            ``context`` weights).
    """

    steps: int = 4000
    batch_size: int = 4
    lr: float = 3e-4
    warmup_steps: int = 200
    log_every: int = 25
    image_every: int = 500
    checkpoint_every: int = 250
    model: str = "small"
    cost_volume: str = "correlation"
    decoder: str = "planes"
    volume_ce: float = PLANE_LOSS_WEIGHTS["volume_ce"]
    plane_ce: float = PLANE_LOSS_WEIGHTS["plane_ce"]
    local_ce: float = PLANE_LOSS_WEIGHTS["local_ce"]
    full_ce: float = PLANE_LOSS_WEIGHTS["full_ce"]
    num_views: int = 5
    num_planes: int = 64
    depth_range: tuple[float, float] = (0.25, 8.0)
    mlp_hidden: tuple[int, ...] = (128, 128)
    image_size: tuple[int, int] = (192, 256)
    crop_size: tuple[int, int] = (96, 128)
    train_data: str = GENERATE
    max_scenes: int = 0
    hint_data: str = ""
    hint_drop_p: float = 0.2
    generate_scenes: int = 120
    generate_frames: int = 40
    generate_fps: float = 5.0
    source_pose_range: tuple[float, float] = (0.1, 0.6)
    drop_sources_p: float = 0.2
    min_sources: int = 2
    stream_sources_p: float = 0.0
    val_scenes: int = 4
    val_frames: int = 40
    recalibration_batches: int = 24
    confidence_scenes: int = 3
    planar_prior: bool = True
    photometric: bool = True
    num_threads: int = 2
    init: str = NO_INIT

    def validate(self) -> None:
        super().validate()
        if self.model not in NAMED_CONFIGS:
            raise ValueError(f"config model must be one of {NAMED_CONFIGS}, got {self.model!r}")
        if self.cost_volume not in COST_VOLUMES:
            raise ValueError(f"config cost_volume must be one of {COST_VOLUMES}, got "
                             f"{self.cost_volume!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"config decoder must be one of {DECODERS}, got {self.decoder!r}")
        if min(self.volume_ce, self.plane_ce, self.local_ce, self.full_ce) < 0:
            raise ValueError("config volume_ce, plane_ce, local_ce and full_ce must be >= 0")
        if self.num_views < 2 or self.num_planes < 2:
            raise ValueError(f"config num_views and num_planes must be >= 2, got "
                             f"{self.num_views}, {self.num_planes}")
        low, high = self.depth_range
        if not 0 < low < high:
            raise ValueError(f"config depth_range must satisfy 0 < near < far, got "
                             f"{self.depth_range}")
        for name in ("image_size", "crop_size"):
            size = getattr(self, name)
            if len(size) != 2 or any(s <= 0 or s % SIZE_MULTIPLE for s in size):
                raise ValueError(f"config {name} must be two positive multiples of "
                                 f"{SIZE_MULTIPLE}, got {size}")
        if any(c > s for c, s in zip(self.crop_size, self.image_size)):
            raise ValueError(f"config crop_size {self.crop_size} must fit in image_size "
                             f"{self.image_size}")
        if not self.mlp_hidden or any(w < 1 for w in self.mlp_hidden):
            raise ValueError(f"config mlp_hidden must be widths >= 1, got {self.mlp_hidden}")
        low, high = self.source_pose_range
        if not 0 <= low <= high:
            raise ValueError(f"config source_pose_range must satisfy 0 <= low <= high, got "
                             f"{self.source_pose_range}")
        if not 0 <= self.drop_sources_p <= 1:
            raise ValueError(f"config drop_sources_p must be in [0, 1], got "
                             f"{self.drop_sources_p}")
        if (self.model == "hinted") != bool(self.hint_data):
            raise ValueError("config model=hinted needs hint_data (a folder of depth hints), "
                             "and hint_data needs model=hinted")
        if self.hint_data and self.train_data == GENERATE:
            raise ValueError("config hint_data needs train_data shards (hints are made for "
                             "rendered shards)")
        if not 0 <= self.hint_drop_p <= 1:
            raise ValueError(f"config hint_drop_p must be in [0, 1], got {self.hint_drop_p}")
        if not 0 <= self.stream_sources_p <= 1:
            raise ValueError(f"config stream_sources_p must be in [0, 1], got "
                             f"{self.stream_sources_p}")
        if not 1 <= self.min_sources <= self.num_views - 1:
            raise ValueError(f"config min_sources must be in [1, num_views - 1], got "
                             f"{self.min_sources}")
        if self.generate_scenes < 1 or self.generate_frames < 2 or self.generate_fps <= 0:
            raise ValueError("config generate_scenes must be >= 1, generate_frames >= 2 and "
                             "generate_fps > 0")
        if self.confidence_scenes < 0:
            raise ValueError(f"config confidence_scenes must be >= 0, got "
                             f"{self.confidence_scenes}")
        if self.recalibration_batches < 0:
            raise ValueError(f"config recalibration_batches must be >= 0, got "
                             f"{self.recalibration_batches}")
        if self.val_scenes < 0 or self.val_frames < 2 or self.num_threads < 0:
            raise ValueError("config val_scenes and num_threads must be >= 0 and "
                             "val_frames >= 2")



def _depth_for_display(depth: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Depth → [0, 1] on a log scale over the model's range (0 = near), 0 where no depth."""
    shown = (torch.log(depth.clamp(low, high)) - np.log(low)) / (np.log(high) - np.log(low))
    return torch.where(depth > 0, shown, torch.zeros_like(shown)).clamp(0, 1)


@register_recipe("mvs")
class MVSRecipe(Recipe):
    """SimpleRecon on synthetic walk-throughs."""

    config_cls = MVSConfig
    smoke_overrides = {"model": "tiny", "num_views": 3, "num_planes": 8, "mlp_hidden": (8,),
                       "image_size": (64, 96), "crop_size": (32, 64), "batch_size": 2,
                       "generate_scenes": 1, "generate_frames": 8, "val_scenes": 1,
                       "val_frames": 8, "min_sources": 1, "num_threads": 1,
                       "recalibration_batches": 2, "confidence_scenes": 0}

    def __init__(self) -> None:
        self._data: dict[tuple, SequenceSet] = {}

    # -- model and data ---------------------------------------------------------------------
    def build_model(self, cfg: MVSConfig) -> MVSNet:
        set_cpu_threads(cfg.num_threads, cfg.device)
        return initialise_from(MVSNet(network_config(cfg)), cfg.init, "mvs", ADDED_STAGES)

    def sequences(self, cfg: MVSConfig) -> SequenceSet:
        """The training walk-throughs (loaded or rendered once per recipe instance)."""
        size = tuple(cfg.image_size)
        key = (cfg.train_data, cfg.max_scenes, cfg.hint_data, cfg.generate_scenes,
               cfg.generate_frames, cfg.generate_fps, size)
        if key not in self._data:
            if cfg.train_data == GENERATE:
                self._data[key] = generate_sequences(TRAIN_SEEDS[:cfg.generate_scenes],
                                                     cfg.generate_frames, size,
                                                     fps=cfg.generate_fps)
            else:
                self._data[key] = load_shard_sequences(cfg.train_data, size,
                                                       cfg.max_scenes or None,
                                                       cfg.hint_data or None)
        return self._data[key]

    def build_data(self, cfg, rank, world_size, seed, start_step):
        data = self.sequences(cfg)
        return seeded_batches(
            lambda s: mvs_batch(data, cfg.batch_size, cfg.num_views - 1, s,
                                tuple(cfg.source_pose_range), cfg.drop_sources_p,
                                cfg.min_sources, tuple(cfg.crop_size), cfg.stream_sources_p,
                                cfg.hint_drop_p),
            seed=seed, rank=rank, start_step=start_step)

    def finalize(self, model, cfg) -> dict[str, Any]:
        """Re-estimate BatchNorm statistics on whole-frame training tuples (see
        ``edgegeo.training.batchnorm``)."""
        data = self.sequences(cfg)
        device = next(model.parameters()).device
        batches = (mvs_batch(data, cfg.batch_size, cfg.num_views - 1, seed,
                             tuple(cfg.source_pose_range), cfg.drop_sources_p, cfg.min_sources,
                             None, cfg.stream_sources_p, cfg.hint_drop_p)
                   for seed in range(cfg.recalibration_batches))

        def forward(net, batch):
            batch = {k: v.to(device) for k, v in batch.items()}
            net(batch["image"], batch["src_images"], batch["K"], batch["src_K"],
                batch["src_T_ref"], batch["source_valid"], batch.get("hint_depth"))

        used = recalibrate_batchnorm(model, batches, forward)
        entries: dict[str, Any] = {
            "batchnorm_recalibration": f"{used} whole-frame batches of {cfg.batch_size}"}
        if cfg.decoder == "planes" and cfg.confidence_scenes:
            threshold, rows = choose_min_confidence(model, cfg.confidence_scenes, cfg.val_frames,
                                                    cfg.generate_fps, cfg.min_sources,
                                                    planar_prior=self.planar_prior(cfg))
            model.config = dataclasses.replace(model.config, min_confidence=threshold)
            entries["min_confidence"] = {
                "chosen": threshold,
                "how": f"lowest candidate within {F_TIE} of the best mean fused-mesh "
                       f"F-score@5cm on {cfg.confidence_scenes} validation walk-throughs "
                       f"(VAL_SEEDS, {cfg.val_frames} frames)",
                "candidates": rows}
        return entries

    # -- loss -------------------------------------------------------------------------------
    def loss(self, model, batch, cfg):
        outputs = model(batch["image"], batch["src_images"], batch["K"], batch["src_K"],
                        batch["src_T_ref"], batch["source_valid"], batch.get("hint_depth"))
        low, high = cfg.depth_range
        log_planes = torch.log(log_depth_planes(cfg.num_planes, low, high)).to(
            batch["depth"].device)
        local_step = model.local_refine.step if model.local_refine is not None else 0.0
        full_step = model.full_refine.step if model.full_refine is not None else 0.0
        total, parts = mvs_loss(outputs, batch, low, high, log_planes, LOSS_WEIGHTS,
                                {"volume_ce": cfg.volume_ce, "plane_ce": cfg.plane_ce,
                                 "local_ce": cfg.local_ce, "full_ce": cfg.full_ce},
                                local_step, full_step)
        with torch.no_grad():
            gt = batch["depth"]
            valid = (gt > 0) & (gt <= high)
            pred = outputs["depth"][0].float()
            abs_rel = ((pred - gt).abs() / gt.clamp_min(1e-6))[valid].mean()
        return total, {**parts, "abs_rel": abs_rel}

    def describe_data(self, cfg) -> str:
        data = self.sequences(cfg)
        crop = ("whole frames" if tuple(cfg.crop_size) == tuple(cfg.image_size) else
                f"{cfg.crop_size[1]}x{cfg.crop_size[0]} reference crops with whole-frame sources")
        return (f"{data.source}; {crop}; tuples of 1 reference + {cfg.num_views - 1} sources "
                f"drawn from the frames at DeepVideoMVS pose distance {cfg.source_pose_range[0]:g}–"
                f"{cfg.source_pose_range[1]:g} of the reference (nearest others when too few), "
                f"{cfg.drop_sources_p:.0%} of tuples with only {cfg.min_sources}…"
                f"{cfg.num_views - 2} real sources"
                + (f"; {cfg.stream_sources_p:.0%} of tuples with the sources the keyframe stream "
                   f"would pick (earlier keyframes, "
                   f"{'forward in time' if cfg.hint_data else 'either direction in time'})"
                   if cfg.stream_sources_p else "")
                + (f"; depth hints (the map fused from the earlier keyframes' depth, "
                   f"rendered at the reference), zeroed in {cfg.hint_drop_p:.0%} of tuples"
                   if cfg.hint_data else "")
                + f"; GT depth (0 masked, clamped to "
                f"{cfg.depth_range[0]:g}–{cfg.depth_range[1]:g} m for the single-view losses)"
                + ("" if cfg.init == NO_INIT else f"; network initialised from {cfg.init}"))

    # -- logging and card metrics -----------------------------------------------------------
    def images(self, model, batch, cfg):
        low, high = cfg.depth_range
        hint = batch.get("hint_depth")
        outputs = model(batch["image"][:4], batch["src_images"][:4], batch["K"][:4],
                        batch["src_K"][:4], batch["src_T_ref"][:4], batch["source_valid"][:4],
                        None if hint is None else hint[:4])
        planes = model.depth_planes
        winner = planes[outputs["cost_volume"].argmax(1, keepdim=True)]
        return {"reference": batch["image"][:4],
                "gt_depth": _depth_for_display(batch["depth"][:4], low, high),
                "prediction": _depth_for_display(outputs["depth"][0], low, high),
                "cost_volume_argmax": _depth_for_display(winner, low, high)}

    def validation_tuples(self, cfg) -> dict[str, torch.Tensor]:
        """The held-out tuples of the learning curve: 16 whole-frame tuples (fixed seed) from
        ``val_scenes`` validation walk-throughs, made once per run."""
        key = ("curve", cfg.val_scenes, cfg.val_frames, tuple(cfg.image_size), cfg.num_views)
        if key not in self._data:
            data = generate_sequences(VAL_SEEDS[:max(cfg.val_scenes, 1)], cfg.val_frames,
                                      tuple(cfg.image_size), fps=cfg.generate_fps,
                                      split=VAL_SEEDS, purpose="mvs validation curve")
            self._data[key] = mvs_batch(data, CURVE_TUPLES, cfg.num_views - 1, CURVE_SEED,
                                        tuple(cfg.source_pose_range))
        return self._data[key]

    def validate(self, model, cfg) -> dict[str, float]:
        """One point of the held-out curve: AbsRel and δ<1.05 of the model's depth, of the raw
        cost volume's winning plane (what matching alone says) and of the best constant (the
        tuples' median GT depth), GT up to the far plane."""
        batch = self.validation_tuples(cfg)
        device = next(model.parameters()).device
        gt = batch["depth"]
        valid = (gt > 0) & (gt <= cfg.depth_range[1])
        predictions, winners = [], []
        for start in range(0, len(gt), 4):
            part = {k: v[start:start + 4].to(device) for k, v in batch.items()}
            outputs = model(part["image"], part["src_images"], part["K"], part["src_K"],
                            part["src_T_ref"], part["source_valid"])
            predictions.append(outputs["depth"][0].float().cpu())
            winner = model.depth_planes[outputs["cost_volume"].argmax(1, keepdim=True)]
            winners.append(F.interpolate(winner.float().cpu(), size=gt.shape[-2:],
                                         mode="nearest"))
        constant = torch.full_like(gt, float(gt[valid].median()))
        scores = {}
        for name, depth in (("model", torch.cat(predictions)), ("volume_argmax", torch.cat(winners)),
                            ("constant", constant)):
            ratio = depth[valid] / gt[valid]
            scores[f"{name}_abs_rel"] = float((ratio - 1).abs().mean())
            scores[f"{name}_a105"] = float((torch.maximum(ratio, 1 / ratio) < 1.05).float().mean())
        return scores

    def evaluate(self, model, cfg) -> dict[str, float]:
        """Depth metrics on validation walk-throughs (``VAL_SEEDS``), each run through
        :class:`MVSStream` as at test time (keyframes, DeepVideoMVS source selection),
        averaged over the predicted keyframes; GT up to the far plane."""
        if cfg.val_scenes == 0:
            return {}
        from edgegeo.data.frame import Frame
        from edgegeo.metrics.depth import depth_metrics
        from edgegeo.models.mvs.predictor import MVSPredictor, MVSStream

        data = generate_sequences(VAL_SEEDS[:cfg.val_scenes], cfg.val_frames,
                                  tuple(cfg.image_size), fps=cfg.generate_fps, split=VAL_SEEDS,
                                  purpose="mvs validation")
        device = next(model.parameters()).device
        predictor = MVSPredictor(model, device=device, resolution=tuple(cfg.image_size),
                                 min_sources=cfg.min_sources)
        results = []
        for sequence in data.sequences:
            stream = MVSStream(predictor)
            for i in range(len(sequence)):
                frame = Frame(sequence.rgb[i], sequence.K[i], world_T_cam=sequence.world_T_cam[i])
                depth = stream.push(frame)
                gt = sequence.depth[i]
                if depth is not None and ((gt > 0) & (gt <= cfg.depth_range[1])).any():
                    results.append(depth_metrics(depth, gt, max_depth=cfg.depth_range[1]))
        if not results:
            return {"val_frames": 0.0}
        metrics = {f"val_{key}": float(np.mean([r[key] for r in results]))
                   for key in ("abs_rel", "a105", "a125", "rmse")}
        metrics["val_frames"] = float(len(results))
        return metrics

    def model_card(self, model, cfg) -> dict[str, Any]:
        """Entries for the model card beyond the engine's: ``model_config`` (what
        ``edgegeo.load("mvs")`` rebuilds the network from, with the confidence threshold
        :meth:`finalize` chose) and the predictor's defaults: ``min_sources`` — the fewest
        sources the model was trained (and validated) with —, the planar prior and the
        photometric refinement."""
        from edgegeo.models.mvs.photometric import PhotometricRefinement

        options: dict[str, Any] = {"min_sources": cfg.min_sources}
        prior = self.planar_prior(cfg)
        if prior is not None:
            options["planar_prior"] = prior.to_dict()
        if cfg.photometric:
            options["photometric"] = PhotometricRefinement().to_dict()
        return {"model_config": model.config.to_dict(), "predictor_options": options,
                **init_provenance(cfg.init)}

    @staticmethod
    def planar_prior(cfg):
        """The predictor's :class:`~edgegeo.models.mvs.planar.PlanarPrior` (defaults), or
        None (off, or a decoder without a confidence)."""
        from edgegeo.models.mvs.planar import PlanarPrior

        return PlanarPrior() if cfg.planar_prior and cfg.decoder == "planes" else None
