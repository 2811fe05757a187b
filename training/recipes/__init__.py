"""Training recipes: the contract a recipe fulfils and the registry the engine and the
``edgegeo train`` command find recipes in.

A recipe is a :class:`Recipe` subclass registered under a model name::

    @register_recipe("mono-depth")
    class MonoDepthRecipe(Recipe):
        config_cls = MonoDepthConfig                 # a frozen TrainConfig subclass
        smoke_overrides = {"image_size": 32}         # tiny sizes for --smoke

        def build_model(self, cfg): ...
        def build_data(self, cfg, rank, world_size, seed, start_step): ...
        def loss(self, model, batch, cfg): ...
        def describe_data(self, cfg): ...

Every module of this package is imported on the first lookup, so a recipe module placed here
registers itself; recipes defined elsewhere register when their module is imported
(``edgegeo train --recipe-module MODULE``).
"""
from __future__ import annotations

import abc
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import TrainConfig

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_RECIPES: dict[str, type[Recipe]] = {}
_discovered = False


class Recipe(abc.ABC):
    """How one model is trained; the engine supplies the loop, optimiser, precision,
    checkpoints, logging and distribution.

    Attributes:
        name: the registry name, which is also the weights name (set by :func:`register_recipe`).
        config_cls: the recipe's config dataclass (a frozen :class:`TrainConfig` subclass).
        smoke_overrides: field → value for ``--smoke`` (model and data sizes; the engine already
            shortens steps, warm-up and logging intervals).
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type[TrainConfig]] = TrainConfig
    smoke_overrides: ClassVar[dict[str, Any]] = {}

    @abc.abstractmethod
    def build_model(self, cfg: TrainConfig) -> nn.Module:
        """A freshly initialised model (built under the run seed, identical on every rank)."""

    @abc.abstractmethod
    def build_data(self, cfg: TrainConfig, rank: int, world_size: int, seed: int,
                   start_step: int) -> Iterator[Any]:
        """An endless iterator of this rank's training batches (``cfg.batch_size`` samples each).

        Batches are tensors or nested dicts/lists/tuples of tensors (the engine moves them to
        the device). ``seed`` is the run seed: derive per-rank streams from it (see
        ``edgegeo.training.data``), and start ``start_step`` batches in, so a resumed run sees
        the batches an uninterrupted one would have.
        """

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: Any, cfg: TrainConfig
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
        """The scalar training loss of one batch and named scalars to log.

        ``model`` may be a DistributedDataParallel wrapper: run the forward pass through
        ``model(...)`` itself (calling a sub-module directly skips the gradient averaging).
        Log the same scalar names at every step on every rank.
        """

    @abc.abstractmethod
    def describe_data(self, cfg: TrainConfig) -> str:
        """What the model is trained on, in one or two sentences, for the model card."""

    def images(self, model: nn.Module, batch: Any, cfg: TrainConfig) -> dict[str, torch.Tensor]:
        """Named ``(N, 1|3, H, W)`` batches in [0, 1] to log as image grids (none by default).

        Called on rank 0 under ``torch.no_grad`` with the plain model in eval mode.
        """
        return {}

    def validate(self, model: nn.Module, cfg: TrainConfig) -> dict[str, float]:
        """One point of the held-out learning curve, every ``cfg.val_every`` steps (none by
        default): name → value, logged as ``val/<name>``.

        Called on rank 0 under ``torch.no_grad`` with the plain model in eval mode; keep it to
        seconds (a few held-out samples, cached between calls).
        """
        return {}

    def model_card(self, model: nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        """Entries the model card needs beyond the engine's — above all ``model_config``, the
        architecture ``edgegeo.load`` rebuilds the network from (none by default)."""
        return {}

    def finalize(self, model: nn.Module, cfg: TrainConfig) -> dict[str, Any]:
        """Last changes to the trained model before it is evaluated and saved (e.g. BatchNorm
        recalibration); returns entries for the model card (none by default).

        Called once on rank 0 after the last step, with the plain model.
        """
        return {}

    def evaluate(self, model: nn.Module, cfg: TrainConfig) -> dict[str, float]:
        """Metrics of the trained model for the model card (none by default).

        Called once on rank 0 after the last step, under ``torch.no_grad`` with the plain model
        in eval mode.
        """
        return {}


def register_recipe(name: str) -> Callable[[type[Recipe]], type[Recipe]]:
    """Class decorator registering a :class:`Recipe` subclass under ``name``.

    Raises:
        ValueError: ``name`` is not lower-case letters, digits and dashes, is taken by another
            class, or the class is not a Recipe with a TrainConfig ``config_cls``.
    """
    if not NAME_PATTERN.match(name):
        raise ValueError(f"recipe name {name!r} must be lower-case letters, digits and dashes")

    def decorate(cls: type[Recipe]) -> type[Recipe]:
        if not (isinstance(cls, type) and issubclass(cls, Recipe)):
            raise ValueError(f"@register_recipe({name!r}) needs a Recipe subclass, got {cls!r}")
        if not (isinstance(cls.config_cls, type) and issubclass(cls.config_cls, TrainConfig)):
            raise ValueError(f"recipe {name!r}: config_cls must be a TrainConfig subclass")
        previous = _RECIPES.get(name)
        if previous is not None and previous is not cls:
            raise ValueError(f"recipe {name!r} is already registered by "
                             f"{previous.__module__}.{previous.__qualname__}")
        cls.name = name
        _RECIPES[name] = cls
        return cls

    return decorate


def _discover() -> None:
    """Import every module of this package once, so their recipes register."""
    global _discovered
    if not _discovered:
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _discovered = True


def available_recipes() -> list[str]:
    """Registered recipe names, sorted."""
    _discover()
    return sorted(_RECIPES)


def get_recipe(name: str) -> Recipe:
    """A new instance of the recipe registered as ``name``.

    Raises:
        ValueError: no such recipe (the message lists the available ones).
    """
    _discover()
    if name not in _RECIPES:
        known = ", ".join(sorted(_RECIPES)) or "none"
        raise ValueError(f"unknown recipe {name!r}; available: {known}")
    return _RECIPES[name]()
