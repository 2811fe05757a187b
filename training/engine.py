"""The training loop every recipe runs in.

``train(recipe, cfg, out_dir)`` seeds, builds the recipe's model and data, and optimises with
AdamW under a warm-up + cosine schedule, gradient clipping and mixed precision on CUDA. It
checkpoints to ``out_dir/checkpoints/last.pt``, logs scalars and image grids, shows a progress
bar, and when the last step is done writes ``out_dir/<recipe>.safetensors`` (fp16) and its
model card. Under ``torchrun`` the same call trains one DDP replica per process.
"""
from __future__ import annotations

import math
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from edgegeo.weights_io import save_weights

from .checkpoint import checkpoint_path, load_checkpoint, restore_training_state, save_checkpoint
from .config import TrainConfig, config_to_dict, resume_conflicts
from .data import to_device
from .init_weights import total_wall_time
from .distributed import (DistContext, check_replicas_identical, distributed_session,
                          launch_prefix, mean_across_ranks)
from .logger import TrainLogger
from .optim import build_optimizer
from .precision import autocast, make_grad_scaler, resolve_precision
from .recipes import Recipe
from .schedule import set_lr, warmup_cosine
from .seeding import seed_everything, seed_step


@dataclass
class TrainResult:
    """What a call to :func:`train` leaves behind.

    Attributes:
        step: optimiser steps completed (over all invocations of this run).
        finished: True when ``step == cfg.steps`` (weights were written on rank 0).
        model: the plain trained module, on its training device.
        weights_path: the ``.safetensors`` file on rank 0 of a finished run, else None.
        metrics: the model card's metrics on rank 0 of a finished run, else empty.
        wall_time_s: wall-clock seconds spent training, over all invocations.
    """

    step: int
    finished: bool
    model: nn.Module
    weights_path: Path | None
    metrics: dict[str, Any]
    wall_time_s: float


def default_command() -> str:
    """This process's command line: ``python`` or the ``torchrun`` launcher it ran under,
    then ``sys.argv``."""
    return (launch_prefix() or "python ") + shlex.join(sys.argv)


def train(recipe: Recipe, cfg: TrainConfig, out_dir: str | os.PathLike, *,
          resume: bool = False, stop_after: int | None = None, command: str | None = None,
          smoke: bool = False) -> TrainResult:
    """Train ``recipe`` with ``cfg`` into ``out_dir``.

    Args:
        recipe: a registered recipe instance (``get_recipe(name)``).
        cfg: an instance of ``recipe.config_cls``.
        out_dir: run folder: ``checkpoints/last.pt``, ``scalars.jsonl``, ``tensorboard/``, and
            at the end ``<recipe.name>.safetensors`` + ``<recipe.name>.json``.
        resume: continue from ``out_dir/checkpoints/last.pt`` when it exists (start fresh when
            it does not). The checkpoint's config must match ``cfg`` except logging and
            checkpoint intervals and ``device``; the world size must match.
        stop_after: end this invocation once this many steps (in total) are done, with a
            checkpoint, as if interrupted; a later ``resume=True`` call continues exactly.
        command: the command line recorded in checkpoints and the model card (default: this
            process's ``sys.argv`` with its torchrun launcher).
        smoke: recorded in the model card so smoke-test weights are never mistaken for a model.
    Raises:
        ValueError: bad arguments, a checkpoint in ``out_dir`` without ``resume``, or a
            checkpoint that does not match this run.
        RuntimeError: non-finite loss, or DDP replicas that diverged.
    """
    if not isinstance(cfg, recipe.config_cls):
        raise ValueError(f"recipe {recipe.name!r} needs a {recipe.config_cls.__name__}, got "
                         f"{type(cfg).__name__}")
    if stop_after is not None and stop_after < 1:
        raise ValueError(f"stop_after must be >= 1, got {stop_after}")
    with distributed_session(cfg.device) as ctx:
        run = _Run(recipe, cfg, ctx, Path(out_dir), command or default_command())
        run.restore(resume)
        run.optimise(min(cfg.steps, stop_after or cfg.steps))
        finished = run.step == cfg.steps
        weights_path, metrics = run.save_weights(smoke) if finished else (None, {})
        return TrainResult(step=run.step, finished=finished, model=run.model,
                           weights_path=weights_path, metrics=metrics,
                           wall_time_s=run.elapsed())


@dataclass
class _ScalarWindow:
    """Sums of the scalars logged since the last log line (kept on the device: no host sync
    per step)."""

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        if self.sums and values.keys() != self.sums.keys():
            raise ValueError(f"logged scalar names changed from {sorted(self.sums)} to "
                             f"{sorted(values)}; log the same names every step")
        for name, value in values.items():
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.steps += 1

    def means(self, ctx: DistContext) -> dict[str, float]:
        """Per-step means over the window, averaged over all ranks (a collective)."""
        names = sorted(self.sums)
        local = torch.stack([self.sums[n].float() for n in names]) / self.steps
        return dict(zip(names, mean_across_ranks(local, ctx).tolist()))


class _Run:
    """One invocation of a training run: the model and its optimiser state, and where the run
    writes."""

    def __init__(self, recipe: Recipe, cfg: TrainConfig, ctx: DistContext, out_dir: Path,
                 command: str) -> None:
        self.started = time.perf_counter()
        self.recipe, self.cfg, self.ctx, self.out_dir = recipe, cfg, ctx, out_dir
        self.precision = resolve_precision(cfg.precision, ctx.device)
        seed_everything(cfg.seed)  # identical initialisation on every rank
        self.model = recipe.build_model(cfg).to(ctx.device)
        self.optimizer = build_optimizer(self.model, cfg)
        self.scaler = make_grad_scaler(self.precision, ctx.device)
        self.checkpoint_file = checkpoint_path(out_dir)
        self.step = 0
        self.previous_time_s = 0.0
        self.commands = [command]
        self.last_scalars: dict[str, float] = {}

    def elapsed(self) -> float:
        """Training wall-clock seconds, this invocation and the ones before it."""
        return self.previous_time_s + time.perf_counter() - self.started

    def restore(self, resume: bool) -> None:
        """Load ``checkpoints/last.pt`` when resuming; refuse to overwrite it otherwise."""
        if not self.checkpoint_file.is_file():
            return
        if not resume:
            raise ValueError(f"{self.out_dir} already holds a checkpoint "
                             f"({self.checkpoint_file}); resume it (--resume) or choose "
                             "another output folder")
        state = load_checkpoint(self.checkpoint_file, map_location=self.ctx.device)
        if state["recipe"] != self.recipe.name:
            raise ValueError(f"the checkpoint is from recipe {state['recipe']!r}, not "
                             f"{self.recipe.name!r}")
        if state["world_size"] != self.ctx.world_size:
            raise ValueError(f"the checkpoint was trained by {state['world_size']} processes; "
                             f"resume with as many (this run has {self.ctx.world_size})")
        conflicts = resume_conflicts(state["config"], self.cfg)
        if conflicts:
            raise ValueError("the config differs from the checkpoint's: " + "; ".join(conflicts))
        restore_training_state(state, self.model, self.optimizer, self.scaler)
        self.step = state["step"]
        self.previous_time_s = state["train_time_s"]
        self.commands = [*state["commands"], *self.commands]
        self.last_scalars = state["last_scalars"]

    def checkpoint(self) -> None:
        """Write ``checkpoints/last.pt`` (rank 0)."""
        if self.ctx.is_main:
            save_checkpoint(self.checkpoint_file, recipe=self.recipe.name, step=self.step,
                            model=self.model, optimizer=self.optimizer, scaler=self.scaler,
                            config=config_to_dict(self.cfg), world_size=self.ctx.world_size,
                            train_time_s=self.elapsed(), commands=self.commands,
                            last_scalars=self.last_scalars)

    def optimise(self, end_step: int) -> None:
        """Run optimiser steps until ``end_step`` steps are done (none if they already are),
        logging and checkpointing."""
        cfg, ctx = self.cfg, self.ctx
        model = self.model
        if ctx.distributed:
            device_ids = [ctx.device] if ctx.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        batches = self.recipe.build_data(cfg, ctx.rank, ctx.world_size, cfg.seed, self.step)
        logger = TrainLogger(self.out_dir, enabled=ctx.is_main, start_step=self.step)
        progress = tqdm(total=end_step, initial=self.step, disable=not ctx.is_main,
                        desc=f"train {self.recipe.name}", unit="step", dynamic_ncols=True)
        window, window_started = _ScalarWindow(), time.perf_counter()
        self.model.train()
        try:
            while self.step < end_step:
                batch = to_device(next(batches), ctx.device)
                lr, scalars = self._one_step(model, batch)
                window.add(scalars)
                self.step += 1
                progress.update(1)
                if self.step % cfg.log_every == 0 or self.step == end_step:
                    self._log_window(logger, window, time.perf_counter() - window_started, lr)
                    progress.set_postfix(loss=f"{self.last_scalars['train/loss']:.4g}",
                                         lr=f"{lr:.3g}")
                    window, window_started = _ScalarWindow(), time.perf_counter()
                if ctx.is_main and cfg.image_every and self.step % cfg.image_every == 0:
                    logger.images(self.step, self._images(batch))
                if ctx.is_main and cfg.val_every and self.step % cfg.val_every == 0:
                    curve_point = self._validate()
                    if curve_point:
                        logger.scalars(self.step, curve_point)
                if self.step % cfg.checkpoint_every == 0 or self.step == end_step:
                    self.checkpoint()
        finally:
            progress.close()
            logger.close()

    def _one_step(self, model: nn.Module, batch: Any) -> tuple[float, dict[str, torch.Tensor]]:
        """Forward, backward, clip and update for step ``self.step``; returns the learning rate
        used and the step's scalars as device tensors."""
        cfg, ctx = self.cfg, self.ctx
        seed_step(cfg.seed, ctx.rank, self.step)
        lr = warmup_cosine(self.step, base_lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                           total_steps=cfg.steps, min_lr_ratio=cfg.min_lr_ratio)
        set_lr(self.optimizer, lr)
        with autocast(self.precision, ctx.device):
            loss, scalars = self.recipe.loss(model, batch, cfg)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg.grad_clip > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        self.scaler.step(self.optimizer)
        self.scaler.update()
        values = {"train/loss": loss.detach().float(), "train/grad_norm": grad_norm.detach()}
        for name, value in scalars.items():
            values[f"train/{name}"] = torch.as_tensor(value, device=ctx.device).detach().float()
        return lr, values

    def _log_window(self, logger: TrainLogger, window: _ScalarWindow, seconds: float,
                    lr: float) -> None:
        """Average the window over steps and ranks, check the loss, and log it at this step."""
        scalars = window.means(self.ctx)
        if not math.isfinite(scalars["train/loss"]):
            raise RuntimeError(f"training loss is {scalars['train/loss']} at step {self.step}; "
                               "lower lr or check the data")
        scalars["train/lr"] = lr
        scalars["perf/steps_per_s"] = window.steps / seconds
        scalars["perf/samples_per_s"] = (window.steps * self.cfg.batch_size
                                         * self.ctx.world_size / seconds)
        if self.scaler.is_enabled():
            scalars["train/loss_scale"] = self.scaler.get_scale()
        logger.scalars(self.step, scalars)
        self.last_scalars = scalars

    def _images(self, batch: Any) -> dict[str, torch.Tensor]:
        """The recipe's image batches from the plain model in eval mode (no DDP collectives)."""
        self.model.eval()
        try:
            with torch.no_grad():
                return self.recipe.images(self.model, batch, self.cfg)
        finally:
            self.model.train()

    def _validate(self) -> dict[str, float]:
        """The recipe's held-out curve point, ``val/<name>`` → value (plain model, eval mode,
        no gradients)."""
        self.model.eval()
        try:
            with torch.no_grad():
                values = self.recipe.validate(self.model, self.cfg)
        finally:
            self.model.train()
        return {f"val/{name}": float(value) for name, value in values.items()}

    def save_weights(self, smoke: bool) -> tuple[Path | None, dict[str, Any]]:
        """Check the replicas agree, evaluate, and write the fp16 weights and model card
        (rank 0; other ranks return ``(None, {})``)."""
        digests = check_replicas_identical(self.model, self.ctx)
        if not self.ctx.is_main:
            return None, {}
        finalized = self.recipe.finalize(self.model, self.cfg)
        self.model.eval()
        with torch.no_grad():
            evaluation = self.recipe.evaluate(self.model, self.cfg)
        metrics = {"train": self.last_scalars,
                   "eval": {name: float(value) for name, value in evaluation.items()}}
        cfg = self.cfg
        card = {
            "recipe": self.recipe.name,
            "recipe_class": f"{type(self.recipe).__module__}.{type(self.recipe).__qualname__}",
            "command": self.commands[0],
            "resume_commands": self.commands[1:],
            "data": self.recipe.describe_data(cfg),
            "seed": cfg.seed,
            "steps": cfg.steps,
            "world_size": self.ctx.world_size,
            "global_batch_size": cfg.batch_size * self.ctx.world_size,
            "precision": self.precision,
            "wall_time_s": round(self.elapsed(), 3),
            "metrics": metrics,
            "smoke": smoke,
            "replica_param_sha256": digests,
            "config": config_to_dict(cfg),
            **finalized,
            **self.recipe.model_card(self.model, cfg),
        }
        card["wall_time_total_s"] = total_wall_time(card)
        return save_weights(self.model, self.recipe.name, card, self.out_dir), metrics
