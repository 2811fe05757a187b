"""The model registry behind ``edgegeo.load``: model name → (network builder, configs,
predictor class), :func:`create_network` (a registered network, optionally with weights) and
:func:`trained_network` (with its trained weights, the default ones unless told otherwise).

Each model folder registers itself beside its definition: its ``__init__.py`` calls
:func:`register_model`. This module imports the model folders listed in
:data:`MODEL_PACKAGES`, so importing it registers every model.

Weights come from ``edgegeo/weights/<name>.safetensors`` (or a path given by the caller). The
network's architecture comes, in this order, from the ``config`` argument, the
``model_config`` entry of the model card (``<name>.json`` beside the weights, a dict of the
config's ``to_dict()``), or the model's default named config.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from edgegeo.weights_io import WEIGHTS_DIR, load_model_card, load_weights


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


MODELS: dict[str, ModelEntry] = {}

# The model folders (packages of edgegeo.models), the one list of them: importing one registers
# it. A new model adds its folder here.
MODEL_PACKAGES = ("mono_depth", "jbu", "mvs", "croco", "stereo", "croco_stereo")


def register_model(name: str, *, build: Callable[[Any], nn.Module],
                   config_from_name: Callable[[str], Any], config_from_dict: Callable[[dict], Any],
                   default_config: str, predictor: type) -> ModelEntry:
    """Register a model under ``name`` (what :func:`edgegeo.load` and the CLI take); called by
    the model folder's ``__init__.py``. The keyword arguments are the :class:`ModelEntry`
    fields.

    Raises:
        ValueError: ``name`` is registered already.
    """
    if name in MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    MODELS[name] = ModelEntry(build=build, config_from_name=config_from_name,
                              config_from_dict=config_from_dict, default_config=default_config,
                              predictor=predictor)
    return MODELS[name]


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


def create_network(name: str, weights: str | os.PathLike | None = None,
                   config: str | Any | None = None) -> nn.Module:
    """A registered model's network (on CPU, as built), with ``weights`` loaded if given.

    Args:
        name: model name (see :func:`available_models`).
        weights: a ``.safetensors`` file; None: freshly initialised.
        config: the architecture: a named config (``"small"``, ``"x4"``) or a config object;
            default the ``model_config`` of the weights' model card, else the model's default
            named config.
    Raises:
        ValueError: unknown name or config; weights that do not fit the config.
        FileNotFoundError: ``weights`` given but missing.
    """
    entry = get_entry(name)
    card = load_model_card(weights, missing_ok=True) if weights is not None else {}
    network = entry.build(_resolve_config(entry, card, config))
    if weights is not None:
        try:
            network.load_state_dict(load_weights(weights))
        except RuntimeError as exc:
            raise ValueError(f"weights {weights} do not fit the {name!r} config "
                             f"{network.config}: {str(exc).splitlines()[0]} (pass the config "
                             f"they were trained with)") from None
    return network


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
    get_entry(name)
    weights_path = Path(weights) if weights is not None else Path(WEIGHTS_DIR) / f"{name}.safetensors"
    if not weights_path.is_file():
        raise FileNotFoundError(
            f"no weights for {name!r}: {weights_path} does not exist. Train them with "
            f"`edgegeo train {name}` and copy the resulting {name}.safetensors and {name}.json "
            f"into {WEIGHTS_DIR}, or pass a weights file")
    return (create_network(name, weights_path, config),
            load_model_card(weights_path, missing_ok=True), weights_path)


def _resolve_config(entry: ModelEntry, card: dict, config: str | Any | None) -> Any:
    if isinstance(config, str):
        return entry.config_from_name(config)
    if config is not None:
        return config
    if "model_config" in card:
        return entry.config_from_dict(card["model_config"])
    return entry.config_from_name(entry.default_config)


for _package in MODEL_PACKAGES:
    importlib.import_module(f"{__package__}.{_package}")
