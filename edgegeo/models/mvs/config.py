"""Architecture of the multi-view depth network (SimpleRecon, Sayed et al., ECCV 2022) and its
named sizes.

Reference: Sayed et al., "SimpleRecon: 3D Reconstruction Without 3D Convolutions", ECCV 2022 (code:
https://github.com/nianticlabs/simplerecon).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

COST_VOLUMES = ("metadata", "dot", "cosine", "correlation")
DECODERS = ("depth", "planes")
# Side lengths must be multiples of this: the image encoder goes down to 1/32 resolution.
SIZE_MULTIPLE = 32
# Matching features (and the cost volume) live at this fraction of the input resolution.
MATCHING_STRIDE = 4
# Metres: predicted depth is scored against GT up to this range (the far plane of the mvs
# recipe, ``depth_range``), by ``edgegeo bench mvs`` and the exported graph's parity metric.
EVAL_MAX_DEPTH = 8.0


@dataclass(frozen=True)
class MVSNetConfig:
    """Architecture of :class:`~edgegeo.models.mvs.model.MVSNet`.

    Attributes:
        num_sources: source views per reference (N − 1); their metadata is concatenated in
            pose-distance order, so the count is part of the architecture. Fewer real sources
            are padded with invalid ones (all their metadata zero).
        num_planes: fronto-parallel depth planes of the sweep, log-spaced.
        min_depth, max_depth: nearest and farthest plane in metres; also the range of the
            predicted depth (sigmoid → log depth in ``[ln min_depth, ln max_depth]``).
        cost_volume: ``"metadata"`` (the MLP over SimpleRecon's metadata), ``"dot"`` (plain
            sum over sources of reference · warped-source feature dot products: the ablation)
            or ``"cosine"`` (mean over the sources that see the point of the cosine similarity
            of the two features: a volume in [−1, 1] whatever the feature scale) or
            ``"correlation"`` (the same score from features made unit length before the sweep:
            the cost of ``"dot"``; the ``planes`` design's volume).
        decoder: ``"depth"`` (SimpleRecon: sigmoid heads regress log depth at four scales) or
            ``"planes"`` (the U-Net outputs a correction to the volume's own plane logits at
            1/4 resolution; depth is their soft-argmin, refined by bounded residuals at 1/2 and
            1/1 — and the volume's soft-argmin and confidence are inputs of the U-Net).
        matching_channels: channels of the matching features (1/4 resolution).
        mlp_hidden: hidden widths of the metadata MLP (LeakyReLU between layers, one output).
        image_channels: image-encoder channels at 1/2, 1/4, 1/8, 1/16, 1/32 resolution.
        cv_channels: cost-volume encoder channels at 1/4, 1/8, 1/16, 1/32.
        decoder_channels: decoder channels at 1/16, 1/8, 1/4, 1/2, 1/1 (depth heads at the
            last four).
        min_confidence: at inference (eval mode), the full-resolution depth is 0 — edgegeo's
            "no depth" — where the volume's confidence (``planes`` decoder: the largest plane
            probability, bilinearly upsampled) is below this; 0 keeps every pixel. Chosen
            after training on validation walk-throughs for the fused mesh's F-score
            (``edgegeo.training.mvs.confidence``); part of the exported graph.
        fine_channels: 0, or the channels of ½-resolution matching features and the local
            depth volume built from them around the ½-resolution estimate
            (:class:`~edgegeo.models.mvs.refinement.LocalDepthRefinement`; ``planes`` decoder
            only).
        local_radius: ``R`` of that volume: ``2R + 1`` depth hypotheses per pixel.
        local_step: spacing of the hypotheses, in plane steps (the log-depth step between
            neighbouring planes of the sweep).
        matching_context: 0, or the channels of the matching encoder's ⅛-resolution context
            stage (:class:`~edgegeo.models.mvs.features.MatchingEncoder`).
        full_channels: 0, or the channels of full-resolution matching features and a second
            local depth volume built from them around the full-resolution estimate (needs
            ``fine_channels``).
        full_radius, full_step: ``R`` and the hypothesis spacing (plane steps) of that volume.
        hint: the network also reads a depth hint ``(B, 1, H, W)`` metres (0 = none): the
            map fused so far rendered at the reference pose (DoubleTake, Sayed et al., ECCV
            2024), as plane scores that the U-Net adds to its plane logits with a learned
            per-pixel gain (``planes`` decoder only; :class:`~.network.MVSDepthNetwork`).
        image_size: ``(H, W)`` working resolution the model is trained for (multiples of 32):
            the predictor resizes images to it by default. Not architecture — the network runs
            at any multiple of 32 — but its matching was learnt at that pixel scale.
    """

    num_sources: int = 7
    num_planes: int = 64
    min_depth: float = 0.25
    max_depth: float = 8.0
    cost_volume: str = "metadata"
    decoder: str = "depth"
    matching_channels: int = 16
    mlp_hidden: tuple[int, ...] = (128, 128)
    image_channels: tuple[int, int, int, int, int] = (16, 24, 40, 64, 96)
    cv_channels: tuple[int, int, int, int] = (64, 96, 128, 160)
    decoder_channels: tuple[int, int, int, int, int] = (128, 96, 64, 32, 16)
    image_size: tuple[int, int] = (192, 256)
    min_confidence: float = 0.0
    fine_channels: int = 0
    local_radius: int = 4
    local_step: float = 0.5
    matching_context: int = 0
    full_channels: int = 0
    full_radius: int = 4
    full_step: float = 0.25
    hint: bool = False

    def __post_init__(self):
        def positive_ints(name: str, count: int | None) -> None:
            values = getattr(self, name)
            if not isinstance(values, tuple) or (count is not None and len(values) != count) \
                    or not values or not all(isinstance(v, int) and v >= 1 for v in values):
                need = f"{count} " if count is not None else ""
                raise ValueError(f"MVSNetConfig.{name} must be a tuple of {need}integers >= 1, "
                                 f"got {values!r}")

        for name, low in (("num_sources", 1), ("num_planes", 2), ("matching_channels", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"MVSNetConfig.{name} must be an integer >= {low}, got "
                                 f"{value!r}")
        if not (math.isfinite(self.min_depth) and math.isfinite(self.max_depth)
                and 0 < self.min_depth < self.max_depth):
            raise ValueError(f"MVSNetConfig needs 0 < min_depth < max_depth (metres), got "
                             f"{self.min_depth}, {self.max_depth}")
        if self.cost_volume not in COST_VOLUMES:
            raise ValueError(f"MVSNetConfig.cost_volume must be one of {COST_VOLUMES}, got "
                             f"{self.cost_volume!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"MVSNetConfig.decoder must be one of {DECODERS}, got "
                             f"{self.decoder!r}")
        if not (isinstance(self.min_confidence, (int, float)) and 0 <= self.min_confidence < 1):
            raise ValueError(f"MVSNetConfig.min_confidence must be in [0, 1), got "
                             f"{self.min_confidence!r}")
        for name in ("fine_channels", "local_radius", "matching_context", "full_channels",
                     "full_radius"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"MVSNetConfig.{name} must be an integer >= 0, got {value!r}")
        for name in ("local_step", "full_step"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value <= 4):
                raise ValueError(f"MVSNetConfig.{name} must be in (0, 4] plane steps, got "
                                 f"{value!r}")
        if self.fine_channels and (self.decoder != "planes" or self.local_radius < 1):
            raise ValueError("MVSNetConfig.fine_channels (the ½-resolution local volume) needs "
                             "the planes decoder and local_radius >= 1")
        if self.full_channels and (not self.fine_channels or self.full_radius < 1):
            raise ValueError("MVSNetConfig.full_channels (the full-resolution local volume) "
                             "needs fine_channels and full_radius >= 1")
        if not isinstance(self.hint, bool):
            raise ValueError(f"MVSNetConfig.hint must be True or False, got {self.hint!r}")
        if self.hint and self.decoder != "planes":
            raise ValueError("MVSNetConfig.hint needs the planes decoder")
        if self.min_confidence and self.decoder != "planes":
            raise ValueError("MVSNetConfig.min_confidence needs the planes decoder (the depth "
                             "decoder has no confidence)")
        positive_ints("mlp_hidden", None)
        positive_ints("image_channels", 5)
        positive_ints("cv_channels", 4)
        positive_ints("decoder_channels", 5)
        positive_ints("image_size", 2)
        if any(v % SIZE_MULTIPLE for v in self.image_size):
            raise ValueError(f"MVSNetConfig.image_size must be multiples of {SIZE_MULTIPLE}, got "
                             f"{self.image_size}")

    @property
    def num_views(self) -> int:
        """N: the reference plus its sources."""
        return self.num_sources + 1

    @classmethod
    def small(cls, **changes: Any) -> MVSNetConfig:
        """The edge model (default): 7 sources, 64 planes 0.25–8 m, SimpleRecon's 202 → 128 →
        128 → 1 metadata MLP, a small CNN image encoder and U-Net."""
        return cls(**changes)

    @classmethod
    def matching(cls, **changes: Any) -> MVSNetConfig:
        """The ``planes`` design (shipped): the ``small`` encoders and U-Net with the
        correlation volume, whose plane logits the U-Net corrects, and 4 sources (the volume
        is a mean over sources, so any count runs)."""
        fields = dict(cost_volume="correlation", decoder="planes", num_sources=4)
        fields.update(changes)
        return cls(**fields)

    @classmethod
    def local(cls, **changes: Any) -> MVSNetConfig:
        """The ``matching`` design plus the ½-resolution local depth volume (coarse to fine):
        16-channel ½ matching features, 9 hypotheses half a plane step apart."""
        fields = dict(fine_channels=16)
        fields.update(changes)
        return cls.matching(**fields)

    @classmethod
    def context(cls, **changes: Any) -> MVSNetConfig:
        """The ``local`` design with a ⅛-resolution context stage (32 channels) in the
        matching encoder."""
        fields = dict(matching_context=32)
        fields.update(changes)
        return cls.local(**fields)

    @classmethod
    def full(cls, **changes: Any) -> MVSNetConfig:
        """The ``context`` design with a full-resolution local depth volume: 8-channel
        full-resolution matching features, 9 hypotheses a quarter plane step apart (±1 plane
        step)."""
        fields = dict(full_channels=8)
        fields.update(changes)
        return cls.context(**fields)

    @classmethod
    def hinted(cls, **changes: Any) -> MVSNetConfig:
        """The ``context`` design reading a depth hint from the fused map (``hint``)."""
        fields = dict(hint=True)
        fields.update(changes)
        return cls.context(**fields)

    @classmethod
    def tiny(cls, **changes: Any) -> MVSNetConfig:
        """A few thousand parameters, 2 sources and 8 planes: tests and smoke runs only."""
        # No 4-channel layers before a stride-2 1×1 skip: oneDNN's AVX2 1×1 backward-weights
        # kernel (torch 2.13 CPU) corrupts the heap on 4 channels in channels-last layout.
        fields = dict(num_sources=2, num_planes=8, matching_channels=4, mlp_hidden=(8,),
                      image_channels=(8, 8, 8, 8, 8), cv_channels=(8, 8, 8, 8),
                      decoder_channels=(8, 8, 8, 4, 4))
        fields.update(changes)
        return cls(**fields)

    @classmethod
    def named(cls, name: str) -> MVSNetConfig:
        """One of the named configs: ``tiny``, ``small``, ``matching``, ``local``,
        ``context``, ``full``, ``hinted``."""
        if name not in NAMED_CONFIGS:
            raise ValueError(f"unknown mvs config {name!r}; available: "
                             f"{', '.join(NAMED_CONFIGS)}")
        return getattr(cls, name)()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what a model card stores under ``model_config``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> MVSNetConfig:
        """Inverse of :meth:`to_dict` (lists from JSON become tuples).

        Raises:
            ValueError: unknown fields or invalid values.
        """
        if not isinstance(fields, dict):
            raise ValueError(f"not an mvs model config: {fields!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"not an mvs model config: unknown fields {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})

    @classmethod
    def from_recipe(cls, recipe_config: dict[str, Any]) -> MVSNetConfig:
        """The network an ``mvs`` recipe config trains: its named ``model`` size (encoder and
        U-Net widths) with the recipe's ``cost_volume``, ``num_views`` (sources = views − 1),
        ``num_planes``, ``depth_range``, ``mlp_hidden`` and ``image_size`` (fields the recipe
        config lacks keep the named config's values).

        Raises:
            ValueError: no ``model`` field, or invalid values.
        """
        if not isinstance(recipe_config, dict) or "model" not in recipe_config:
            raise ValueError(f"not an mvs recipe config (no 'model' field): {recipe_config!r}")
        base = cls.named(recipe_config["model"])
        changes: dict[str, Any] = {}
        for name in ("cost_volume", "decoder", "num_planes", "mlp_hidden", "image_size"):
            if name in recipe_config:
                value = recipe_config[name]
                changes[name] = tuple(value) if isinstance(value, list) else value
        if "num_views" in recipe_config:
            changes["num_sources"] = recipe_config["num_views"] - 1
        if "depth_range" in recipe_config:
            near, far = recipe_config["depth_range"]
            changes.update(min_depth=float(near), max_depth=float(far))
        return dataclasses.replace(base, **changes)


NAMED_CONFIGS = ("tiny", "small", "matching", "local", "context", "full", "hinted")
