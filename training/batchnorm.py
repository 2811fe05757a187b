"""BatchNorm recalibration: re-estimate running statistics after training.

A network trained on crops (or with views passed through in separate groups) can leave
BatchNorm running statistics that do not describe what it sees at test time; in eval mode the
predictions then drift (the ``mvs`` model trained on 96×128 reference crops predicted the far
plane everywhere on whole frames until recalibrated). Recalibration runs the network in train
mode, without gradients, on batches like the test inputs, and replaces every BatchNorm's
running mean and variance by their plain average over those batches.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Any],
                          forward: Callable[[nn.Module, Any], Any]) -> int:
    """Re-estimate the running statistics of every BatchNorm of ``model``.

    Args:
        batches: inputs like those at test time (e.g. whole frames, not crops).
        forward: ``(model, batch) → anything``: runs the model on one batch.
    Returns:
        the number of batches used (0 leaves the statistics untouched; so does a model
        without BatchNorm).
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    saved = [(layer.momentum, layer.running_mean.clone(), layer.running_var.clone(),
              layer.num_batches_tracked.clone()) for layer in layers]
    mode = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None                     # cumulative average over the batches
    model.train()
    count = 0
    try:
        for batch in batches:
            forward(model, batch)
            count += 1
    finally:
        model.train(mode)
        for layer, (momentum, mean, var, tracked) in zip(layers, saved):
            layer.momentum = momentum
            if count == 0:
                layer.running_mean.copy_(mean)
                layer.running_var.copy_(var)
                layer.num_batches_tracked.copy_(tracked)
    return count
