"""Training configs: defaults, validation, smoke sizes and --set overrides."""
import dataclasses
from dataclasses import dataclass

import pytest

from edgegeo.training.config import (ENGINE_SMOKE_OVERRIDES, TrainConfig, config_to_dict,
                                     make_config, resume_conflicts)


@dataclass(frozen=True)
class _RecipeConfig(TrainConfig):
    image_size: int = 64
    augment: bool = True
    crop: tuple[int, int] = (32, 48)
    scales: tuple[float, ...] = (1.0,)
    backbone: str = "small"
    max_depth: float | None = None


def test_defaults_are_valid_and_frozen():
    cfg = TrainConfig()
    assert cfg.steps == 10_000 and cfg.warmup_steps < cfg.steps
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0


def test_overrides_are_parsed_by_field_type():
    cfg = make_config(_RecipeConfig, overrides=[
        "lr=1e-3", "steps=200", "warmup_steps=20", "augment=no", "crop=16,24", "scales=0.5,1,2",
        "backbone=base", "max_depth=10", "betas=0.9,0.95", "precision=bf16"])
    assert cfg.lr == 1e-3 and isinstance(cfg.steps, int) and cfg.steps == 200
    assert cfg.augment is False
    assert cfg.crop == (16, 24) and cfg.scales == (0.5, 1.0, 2.0)
    assert cfg.backbone == "base" and cfg.max_depth == 10.0
    assert cfg.betas == (0.9, 0.95) and cfg.precision == "bf16"
    assert make_config(_RecipeConfig, overrides=["max_depth=none"]).max_depth is None


@pytest.mark.parametrize("override, message", [
    ("learning_rate=1", "no field 'learning_rate'"),
    ("lr", "key=value"),
    ("steps=ten", "steps=ten"),
    ("augment=maybe", "true or false"),
    ("crop=1,2,3", "expected 2"),
    ("steps=0", "steps must be >= 1"),
    ("warmup_steps=10000", "warmup_steps must be in [0, steps=10000)"),
    ("precision=fp8", "precision must be one of"),
    ("betas=0.9,1.0", "betas"),
    ("grad_clip=-1", "grad_clip"),
])
def test_bad_overrides_raise_clear_value_errors(override, message):
    with pytest.raises(ValueError) as info:
        make_config(_RecipeConfig, overrides=[override])
    assert message in str(info.value)


def test_smoke_sizes_stack_engine_then_recipe_then_set():
    cfg = make_config(_RecipeConfig, smoke_overrides={"image_size": 8, "steps": 4},
                      overrides=["steps=5"])
    assert cfg.image_size == 8
    assert cfg.steps == 5                                   # --set wins over both
    assert cfg.log_every == ENGINE_SMOKE_OVERRIDES["log_every"]
    assert make_config(_RecipeConfig).image_size == 64      # not smoke: full size
    with pytest.raises(ValueError, match="not a field"):
        make_config(_RecipeConfig, smoke_overrides={"imagesize": 8})


def test_make_config_rejects_non_config_classes():
    with pytest.raises(ValueError, match="TrainConfig subclass"):
        make_config(dict)


def test_resume_conflicts_allow_only_logging_and_device_changes():
    saved = config_to_dict(_RecipeConfig())
    assert saved["crop"] == [32, 48]
    relaxed = _RecipeConfig(log_every=1, image_every=0, checkpoint_every=7, device="cpu")
    assert resume_conflicts(saved, relaxed) == []
    changed = _RecipeConfig(lr=1e-3, crop=(8, 8))
    assert resume_conflicts(saved, changed) == ["crop: [32, 48] → [8, 8]", "lr: 0.0003 → 0.001"]
