"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint holds the model, optimiser and loss-scaler states, the number of completed steps,
the config, the world size, the training time so far, the command of every invocation and
the last logged scalars.
The learning rate and all random draws are functions of the step (see ``schedule`` and
``seeding``), so no scheduler or RNG state is needed for an exact resume.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "recipe", "step", "model", "optimizer", "scaler", "config",
                 "world_size", "train_time_s", "commands", "last_scalars")


def checkpoint_path(out_dir: str | os.PathLike) -> Path:
    """Where a run in ``out_dir`` keeps its latest checkpoint: ``out_dir/checkpoints/last.pt``."""
    return Path(out_dir) / "checkpoints" / "last.pt"


def save_checkpoint(path: str | os.PathLike, *, recipe: str, step: int, model: nn.Module,
                    optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                    config: dict[str, Any], world_size: int, train_time_s: float,
                    commands: list[str], last_scalars: dict[str, float]) -> None:
    """Write a checkpoint atomically: to a temporary file in the same folder, flushed to disk,
    then renamed over ``path``, so a crash never leaves a truncated ``last.pt``.

    Args:
        model: the plain (unwrapped) module.
        config: the run's config as plain data (``config_to_dict``).
        train_time_s: wall-clock seconds spent training so far, over all invocations.
        commands: the command line of every invocation so far, first one first.
        last_scalars: the scalars logged last (the model card's training metrics).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": CHECKPOINT_FORMAT, "recipe": recipe, "step": step,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(), "config": config, "world_size": world_size,
        "train_time_s": train_time_s, "commands": list(commands),
        "last_scalars": dict(last_scalars),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike, map_location: torch.device | str = "cpu"
                    ) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors only, no pickled code).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an edgegeo training checkpoint "
                         f"(format {CHECKPOINT_FORMAT})")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise ValueError(f"checkpoint {path} lacks {missing}")
    return state


def restore_training_state(state: dict[str, Any], model: nn.Module,
                           optimizer: torch.optim.Optimizer,
                           scaler: torch.amp.GradScaler) -> None:
    """Load a checkpoint's model, optimiser and scaler states in place (model unwrapped,
    optimiser built over the same parameters in the same order).

    A scaler state saved without loss scaling (CPU, bf16, fp32) leaves ``scaler`` fresh.
    """
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if state["scaler"]:
        scaler.load_state_dict(state["scaler"])
