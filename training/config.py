"""Training configuration: the :class:`TrainConfig` dataclass every recipe extends, and how a
config is built from its defaults, the smoke-test sizes and ``--set key=value`` overrides.

A recipe's config is a frozen dataclass deriving from :class:`TrainConfig` (add fields with
defaults, override :meth:`TrainConfig.validate` and call ``super().validate()``). A config is
checked when it is created, so a bad value fails before any model is built.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")

# Engine-level sizes of a smoke run (seconds on a CPU); a recipe's ``smoke_overrides`` come on
# top of these and ``--set`` on top of both.
ENGINE_SMOKE_OVERRIDES: dict[str, Any] = {
    "steps": 6,
    "warmup_steps": 2,
    "log_every": 2,
    "image_every": 3,
    "checkpoint_every": 3,
    "val_every": 3,
}

# Fields a resumed run may change without changing the training trajectory.
RESUMABLE_CHANGES = frozenset({"log_every", "image_every", "checkpoint_every", "val_every",
                               "device"})


@dataclass(frozen=True)
class TrainConfig:
    """Settings shared by every recipe.

    Attributes:
        steps: total optimiser steps of the run; the LR schedule spans exactly these.
        batch_size: samples per process per step (the global batch is ``batch_size × world``).
        lr: peak learning rate of AdamW, reached at the end of warm-up.
        min_lr_ratio: final learning rate as a fraction of ``lr`` (cosine decay target), [0, 1].
        warmup_steps: linear warm-up length in steps, ``0 <= warmup_steps < steps``.
        weight_decay: AdamW decoupled weight decay, applied to weight matrices and kernels only
            (never to biases or normalisation parameters).
        betas: AdamW ``(beta1, beta2)``, each in [0, 1).
        grad_clip: maximum global L2 norm of the gradients; ``0`` disables clipping.
        precision: ``auto`` (bf16 on a CUDA GPU that supports it, else fp16 on CUDA, fp32 on
            CPU), ``fp32``, ``bf16`` (CPU or CUDA) or ``fp16`` (CUDA only, with loss scaling).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``; under ``torchrun`` each
            process takes the GPU of its ``LOCAL_RANK``.
        seed: seeds model initialisation, the per-rank data streams and per-step randomness.
        log_every: steps between logged scalars (averaged over the steps and the processes).
        image_every: steps between logged image grids; ``0`` disables them.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        val_every: steps between held-out validation points of the learning curve
            (``Recipe.validate``, logged as ``val/…``); ``0`` disables them.
    """

    steps: int = 10_000
    batch_size: int = 8
    lr: float = 3e-4
    min_lr_ratio: float = 0.01
    warmup_steps: int = 500
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 1000
    val_every: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first field with an invalid value."""
        for name in ("steps", "batch_size", "log_every", "checkpoint_every"):
            _require(getattr(self, name) >= 1, name, "must be >= 1", getattr(self, name))
        _require(self.image_every >= 0, "image_every", "must be >= 0", self.image_every)
        _require(self.val_every >= 0, "val_every", "must be >= 0", self.val_every)
        _require(0 <= self.warmup_steps < self.steps, "warmup_steps",
                 f"must be in [0, steps={self.steps})", self.warmup_steps)
        _require(self.lr > 0, "lr", "must be > 0", self.lr)
        _require(0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio", "must be in [0, 1]",
                 self.min_lr_ratio)
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0", self.weight_decay)
        _require(len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas), "betas",
                 "must be two numbers in [0, 1)", self.betas)
        _require(self.grad_clip >= 0, "grad_clip", "must be >= 0 (0 disables)", self.grad_clip)
        _require(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}",
                 self.precision)
        _require(self.device in DEVICES, "device", f"must be one of {DEVICES}", self.device)
        _require(self.seed >= 0, "seed", "must be >= 0", self.seed)


def _require(ok: bool, name: str, rule: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"config {name} {rule}, got {value!r}")


def make_config(config_cls: type[TrainConfig], *, smoke_overrides: dict[str, Any] | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Build a config from ``config_cls`` defaults, then smoke sizes, then ``key=value`` strings.

    Args:
        config_cls: a :class:`TrainConfig` subclass (or the class itself).
        smoke_overrides: field → value applied on top of :data:`ENGINE_SMOKE_OVERRIDES` for a
            smoke run; ``None`` builds a full-size config.
        overrides: ``"key=value"`` strings (from ``--set``), parsed by the field's type.
    Raises:
        ValueError: unknown field, unparsable value or a value the config rejects.
    """
    if not (isinstance(config_cls, type) and issubclass(config_cls, TrainConfig)):
        raise ValueError(f"config_cls must be a TrainConfig subclass, got {config_cls!r}")
    values: dict[str, Any] = {}
    if smoke_overrides is not None:
        values.update(ENGINE_SMOKE_OVERRIDES)
        values.update(smoke_overrides)
    types_by_name = config_field_types(config_cls)
    for name in values:
        if name not in types_by_name:
            raise ValueError(f"smoke override {name!r} is not a field of {config_cls.__name__}")
    for item in overrides:
        name, value = parse_override(item, types_by_name, config_cls.__name__)
        values[name] = value
    return config_cls(**values)


def config_field_types(config_cls: type[TrainConfig]) -> dict[str, Any]:
    """Field name → resolved type annotation of a config dataclass."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def parse_override(item: str, types_by_name: dict[str, Any], owner: str = "config"
                   ) -> tuple[str, Any]:
    """Split ``"key=value"`` and convert the value to the field's type.

    Booleans accept true/false/yes/no/1/0; tuples take comma-separated items
    (``betas=0.9,0.95``); optional fields accept ``none``.
    """
    if "=" not in item:
        raise ValueError(f"override {item!r} must look like key=value")
    name, text = (part.strip() for part in item.split("=", 1))
    if name not in types_by_name:
        raise ValueError(f"{owner} has no field {name!r}; fields: {', '.join(types_by_name)}")
    try:
        return name, _parse_value(text, types_by_name[name])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"override {item!r}: {exc}") from None


def _parse_value(text: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"cannot parse a value of type {annotation}")
        return _parse_value(text, inner[0])
    if origin is tuple:
        items = [part.strip() for part in text.split(",")]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_value(part, args[0]) for part in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {len(items)}")
        return tuple(_parse_value(part, kind) for part, kind in zip(items, args))
    if annotation is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if annotation in (int, float, str):
        return annotation(text)
    raise TypeError(f"fields of type {annotation} cannot be set from the command line")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain-data view of a config (tuples become lists), as stored in checkpoints and cards."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(cfg).items()}


def resume_conflicts(saved: dict[str, Any], current: TrainConfig) -> list[str]:
    """Fields whose value differs between a checkpoint's config and ``current`` and that a
    resumed run may not change (everything but :data:`RESUMABLE_CHANGES`).

    Returns:
        ``"name: saved → current"`` descriptions, empty when the run can resume.
    """
    now = config_to_dict(current)
    conflicts = []
    for name in sorted(set(saved) | set(now)):
        if name in RESUMABLE_CHANGES:
            continue
        before, after = saved.get(name, "<absent>"), now.get(name, "<absent>")
        if before != after:
            conflicts.append(f"{name}: {before!r} → {after!r}")
    return conflicts
