"""AdamW with decoupled weight decay on weight matrices and kernels only."""
from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig

# Modules whose parameters are scales and shifts of a normalisation, never decayed.
NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
              nn.LocalResponseNorm)


def split_decay(model: nn.Module) -> tuple[list[str], list[str]]:
    """Names of trainable parameters that get weight decay and those that do not.

    No decay: biases, any parameter with fewer than 2 dimensions (scales, per-channel gains)
    and every parameter of a normalisation layer. Decay: the rest (linear, conv, embeddings).

    Returns:
        ``(decay_names, no_decay_names)``, each in ``model.named_parameters()`` order.
    """
    norm_params = {id(p) for m in model.modules() if isinstance(m, NORM_TYPES)
                   for p in m.parameters(recurse=False)}
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = name.endswith("bias") or param.ndim < 2 or id(param) in norm_params
        (no_decay if exempt else decay).append(name)
    return decay, no_decay


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters: group 0 decayed with ``cfg.weight_decay``,
    group 1 not decayed; ``lr`` is set by the schedule each step.

    Raises:
        ValueError: the model has no trainable parameters.
    """
    decay, no_decay = split_decay(model)
    if not decay and not no_decay:
        raise ValueError("the model has no trainable parameters")
    params = dict(model.named_parameters())
    groups = [{"params": [params[n] for n in decay], "weight_decay": cfg.weight_decay},
              {"params": [params[n] for n in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))
