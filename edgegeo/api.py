"""The public API behind ``edgegeo.load``: a named model, its trained weights, a backend.

The one module allowed above every layer: it reads the model table of the core
(:mod:`edgegeo.models.registry`) and, for the exported backends, calls the export stage
(:func:`edgegeo.export.runtime_network`, imported on first use). Nothing in the package imports
it but ``edgegeo/__init__.py`` (lazily, so ``import edgegeo`` stays cheap) and the CLI.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from edgegeo.models.registry import available_models, get_entry, trained_network

BACKENDS = ("torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")

__all__ = ["BACKENDS", "PRECISIONS", "available_models", "load"]


def load(name: str, backend: str = "torch", device: str = "cpu",
         weights: str | os.PathLike | None = None, config: str | Any | None = None,
         precision: str = "fp32", **options: Any):
    """A ready predictor for a named model with trained weights.

    Args:
        name: model name, e.g. ``"mono-depth"`` or ``"jbu"`` (see :func:`available_models`).
        backend: ``"torch"``, ``"onnxruntime"`` (exports the network to ONNX on first use,
            into the artefact cache, ``$EDGEGEO_CACHE`` or ``~/.cache/edgegeo``) or
            ``"tensorrt"`` (builds a cached engine; needs the ``[jetson]`` extra).
        device: torch device, ``"cpu"`` or ``"cuda"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"`` (calibrated) for the exported
            backends; torch runs fp32.
        weights: a ``.safetensors`` file to use instead of ``edgegeo/weights/<name>.safetensors``.
        config: the architecture: a named config (``"small"``, ``"x4"``) or a config object; default
            the model card's ``model_config``, else the model's default named config.
        **options: passed to the predictor (e.g. ``resolution=`` for ``mono-depth``), over the
            defaults the model card's ``predictor_options`` gives.
    Returns:
        The model's predictor (``mono-depth``: :class:`MonoDepthPredictor`, image → disparity;
        ``jbu``: :class:`JBUPredictor`, ``(depth_lowres (h,w) float32 m, image (H,W,3)
        uint8) → (H,W) float32 m``).
    Raises:
        ValueError: unknown name, backend or config; weights that do not fit the config.
        FileNotFoundError: no weights; says which command trains them.
    """
    entry = get_entry(name)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if precision not in PRECISIONS or (backend == "torch" and precision != "fp32"):
        raise ValueError(f"precision {precision!r} with backend {backend!r}: torch runs fp32, "
                         f"onnxruntime/tensorrt run {', '.join(PRECISIONS)}")
    network, card, _ = trained_network(name, weights, config)
    # The card's predictor options (e.g. the working resolution the model was trained for)
    # are defaults; the caller's win.
    options = {**card.get("predictor_options", {}), **options}
    if backend != "torch":
        from edgegeo.export import runtime_network

        # A predictor's (H, W) working resolution is the size its network is fed: trace the
        # graph there (a fixed-size graph, mvs's, runs at no other).
        resolution = options.get("resolution")
        example = (tuple(int(v) for v in resolution)
                   if isinstance(resolution, (tuple, list)) and len(resolution) == 2 else None)
        network = runtime_network(name, network.eval(), backend, precision,
                                  input_example=example)
        return entry.predictor(network, **options)
    return entry.predictor(network, device=_device(device), **options)


def _device(device: str) -> torch.device:
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return parsed
