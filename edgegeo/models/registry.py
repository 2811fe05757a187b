"""The model registry behind ``edgegeo.load``: model name → (network builder, predictor class),
and :func:`trained_network`, a registered network with its trained weights.

Weights come from ``edgegeo/weights/<name>.safetensors`` (or a path given by the caller). The
network's architecture comes, in this order, from the ``config`` argument, the
``model_config`` entry of the model card (``<name>.json`` beside the weights, a dict of
:meth:`MonoDepthNetConfig.to_dict`), or the model's default named config.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from edgegeo.weights_io import WEIGHTS_DIR, load_weights

from .croco import CroCoCompleter, CroCoConfig, CroCoNet
from .jbu import DepthJBU, JBUConfig, JBUPredictor
from .mono_depth import MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor
from .mvs import MVSNet, MVSNetConfig, MVSPredictor
from .croco_stereo import CroCoStereoConfig, CroCoStereoNet, CroCoStereoPredictor
from .stereo import CostVolumeStereo, StereoConfig, StereoPredictor


@dataclass(frozen=True)
class ModelEntry:
    """How to build and run one named model.

    Attributes:
        build: config → freshly initialised network.
        config_from_name: named config → config object (raises ValueError for unknown names).
        config_from_dict: model-card ``model_config`` dict → config object.
        default_config: the named config used when neither caller nor card says otherwise.
        predictor: class wrapping the network: ``predictor(network, device=..., **options)``.
    """

    build: Callable[[Any], nn.Module]
    config_from_name: Callable[[str], Any]
    config_from_dict: Callable[[dict], Any]
    default_config: str
    predictor: type


MODELS: dict[str, ModelEntry] = {
    "mono-depth": ModelEntry(build=MonoDepthNet, config_from_name=MonoDepthNetConfig.named,
                             config_from_dict=MonoDepthNetConfig.from_dict,
                             default_config="small", predictor=MonoDepthPredictor),
    "jbu": ModelEntry(build=DepthJBU, config_from_name=JBUConfig.named,
                      config_from_dict=JBUConfig.from_dict, default_config="x4",
                      predictor=JBUPredictor),
    "mvs": ModelEntry(build=MVSNet, config_from_name=MVSNetConfig.named,
                      config_from_dict=MVSNetConfig.from_dict, default_config="small",
                      predictor=MVSPredictor),
    "croco": ModelEntry(build=CroCoNet, config_from_name=CroCoConfig.named,
                        config_from_dict=CroCoConfig.from_dict, default_config="small",
                        predictor=CroCoCompleter),
    "stereo": ModelEntry(build=CostVolumeStereo, config_from_name=StereoConfig.named,
                         config_from_dict=StereoConfig.from_dict, default_config="small",
                         predictor=StereoPredictor),
    "croco-stereo": ModelEntry(build=CroCoStereoNet, config_from_name=CroCoStereoConfig.named,
                               config_from_dict=CroCoStereoConfig.from_dict,
                               default_config="small", predictor=CroCoStereoPredictor),
}


def available_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def get_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        ValueError: unknown name; the message lists the available ones.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return MODELS[name]


def trained_network(name: str, weights: str | os.PathLike | None = None,
                    config: str | Any | None = None) -> tuple[nn.Module, dict, Path]:
    """The network of a registered model with its trained weights (on CPU, as built).

    What :func:`edgegeo.load` wraps in a predictor and :func:`edgegeo.export.load_network`
    exports.

    Args:
        name: model name (see :func:`available_models`).
        weights: a ``.safetensors`` file to use instead of ``edgegeo/weights/<name>.safetensors``.
        config: the architecture: a named config (``"small"``, ``"x4"``) or a config object;
            default the model card's ``model_config``, else the model's default named config.
    Returns:
        ``(network, card, weights_path)``: the network, its model card (``{}`` when there is
        none) and the weights file it was loaded from.
    Raises:
        ValueError: unknown name or config; weights that do not fit the config.
        FileNotFoundError: no weights; says which command trains them.
    """
    entry = get_entry(name)
    weights_path = Path(weights) if weights is not None else Path(WEIGHTS_DIR) / f"{name}.safetensors"
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"no weights for {name!r}: {weights_path} does not exist. Train them with "
            f"`edgegeo train {name}` and copy the resulting {name}.safetensors and {name}.json "
            f"into {WEIGHTS_DIR}, or pass a weights file")
    card = _model_card(weights_path)
    network = entry.build(_resolve_config(entry, card, config))
    state = load_weights(weights_path)
    try:
        network.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"weights {weights_path} do not fit the {name!r} config "
                         f"{network.config}: {str(exc).splitlines()[0]} (pass the config they "
                         f"were trained with)") from None
    return network, card, weights_path


def _model_card(weights_path: Path) -> dict:
    """The model card beside ``weights_path`` (``.json``), or ``{}`` if there is none."""
    card_path = weights_path.with_suffix(".json")
    return json.loads(card_path.read_text()) if card_path.is_file() else {}


def _resolve_config(entry: ModelEntry, card: dict, config: str | Any | None) -> Any:
    if isinstance(config, str):
        return entry.config_from_name(config)
    if config is not None:
        return config
    if "model_config" in card:
        return entry.config_from_dict(card["model_config"])
    return entry.config_from_name(entry.default_config)
