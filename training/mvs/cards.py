"""The network architecture of an ``mvs`` run (the ``model_config`` entry of its model card,
what ``edgegeo.load("mvs")`` rebuilds the network from)."""
from __future__ import annotations

import dataclasses
from typing import Any

from edgegeo.models.mvs.config import MVSNetConfig


def network_config(cfg: Any) -> MVSNetConfig:
    """The :class:`MVSNetConfig` of a recipe config (:meth:`MVSNetConfig.from_recipe`)."""
    return MVSNetConfig.from_recipe(dataclasses.asdict(cfg))
