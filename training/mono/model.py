"""Which network a mono-depth run trains, and how its outputs load back.

* :func:`parse_model_spec` — ``"small"`` or ``"sized:DIM,DEPTH,HEADS,FEATURES"`` → config.
* :func:`card_network_config` / :func:`load_network` — the architecture of a weights file from
  its model card's ``model_config``, and the network with those weights.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from edgegeo.models.mono_depth import NAMED_CONFIGS, MonoDepthNet, MonoDepthNetConfig
from edgegeo.weights_io import load_model_card


def parse_model_spec(spec: str) -> MonoDepthNetConfig:
    """A named config (``tiny``, ``small``, ``base``) or ``sized:DIM,DEPTH,HEADS,FEATURES``
    (:meth:`MonoDepthNetConfig.sized`, patch 16, learned positions)."""
    if spec in NAMED_CONFIGS:
        return MonoDepthNetConfig.named(spec)
    if spec.startswith("sized:"):
        try:
            dim, depth, heads, features = (int(v) for v in spec[len("sized:"):].split(","))
        except ValueError:
            raise ValueError(f"model spec {spec!r}: expected sized:DIM,DEPTH,HEADS,FEATURES "
                             "(four integers)") from None
        return MonoDepthNetConfig.sized(embed_dim=dim, depth=depth, num_heads=heads,
                                        features=features)
    raise ValueError(f"unknown model spec {spec!r}; use one of {', '.join(NAMED_CONFIGS)} or "
                     "sized:DIM,DEPTH,HEADS,FEATURES")


def card_network_config(weights: str | os.PathLike) -> MonoDepthNetConfig:
    """The architecture of a ``.safetensors`` file: the ``model_config`` entry of the model card
    beside it.

    Raises:
        FileNotFoundError: no card; ValueError: a card without ``model_config``.
    """
    card = load_model_card(weights)
    if "model_config" not in card:
        raise ValueError(f"model card {Path(weights).with_suffix('.json')} has no model_config")
    return MonoDepthNetConfig.from_dict(card["model_config"])


def load_network(weights: str | os.PathLike, device: str | torch.device = "cpu"
                 ) -> MonoDepthNet:
    """A :class:`MonoDepthNet` with the weights of a file, in eval mode, gradients off."""
    from edgegeo.weights_io import load_weights

    if not Path(weights).is_file():
        raise FileNotFoundError(f"no weights at {weights}; train them first (edgegeo train "
                                "mono-depth-teacher)")
    network = MonoDepthNet(card_network_config(weights))
    network.load_state_dict(load_weights(weights))
    network.requires_grad_(False)
    return network.to(device).eval()
