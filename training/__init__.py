"""Training: the shared engine and the recipes that produce every shipped model.

* ``edgegeo.training.recipes`` — the :class:`Recipe` contract and the registry
  (``register_recipe``, ``get_recipe``, ``available_recipes``);
* ``edgegeo.training.config`` — :class:`TrainConfig`, the base of every recipe's config;
* ``edgegeo.training.engine`` — :func:`train`, the loop (AdamW, warm-up + cosine, clipping,
  mixed precision, checkpoints and exact resume, logging, DDP under ``torchrun``);
* ``edgegeo.training.data`` — seeded, resumable, rank-aware batch streams for recipes.

From the shell: ``edgegeo train RECIPE [--smoke] [--out DIR]``.
"""
from .config import TrainConfig, make_config
from .engine import TrainResult, train
from .recipes import Recipe, available_recipes, get_recipe, register_recipe

__all__ = ["Recipe", "TrainConfig", "TrainResult", "available_recipes", "get_recipe",
           "make_config", "register_recipe", "train"]
