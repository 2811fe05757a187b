"""Which inference backend a pipeline's model runs on (``edgegeo run --backend``)."""
from __future__ import annotations

import importlib.util

from edgegeo.devices.profiles import BACKENDS       # most to least preferred on a device

CHOICES = ("auto",) + BACKENDS


def tensorrt_available() -> bool:
    """True if the ``tensorrt`` Python package can be imported here."""
    return importlib.util.find_spec("tensorrt") is not None


def choose_backend(model: str, requested: str, profile_backend: str, exportable: bool,
                   has_tensorrt: bool) -> tuple[str, str]:
    """The backend to load ``model`` with, and why.

    ``auto`` starts from the device profile's preferred backend and falls back down
    ``tensorrt → onnxruntime → torch``: TensorRT where it is installed and the model can be
    exported, ONNX Runtime where the model can be exported, else torch. A backend asked for
    by name is used as is, if it can run the model.

    Args:
        model: model name (``mono-depth``, ``stereo``, ``mvs``).
        requested: ``auto``, ``tensorrt``, ``onnxruntime`` or ``torch``.
        profile_backend: the device profile's preferred backend (one of :data:`BACKENDS`).
        exportable: the model has an export spec (``edgegeo.export.available_exports()``).
        has_tensorrt: TensorRT is importable (:func:`tensorrt_available`).
    Returns:
        ``(backend, reason)``, the reason a short sentence for logs and ``stats.json``.
    Raises:
        ValueError: unknown backend names, or a named backend that cannot run the model.
    """
    if requested not in CHOICES:
        raise ValueError(f"unknown backend {requested!r}; use one of {', '.join(CHOICES)}")
    if profile_backend not in BACKENDS:
        raise ValueError(f"unknown profile backend {profile_backend!r}; use one of "
                         f"{', '.join(BACKENDS)}")
    if requested != "auto":
        if requested != "torch" and not exportable:
            raise ValueError(f"--backend {requested}: {model} has no export spec yet, so it "
                             "runs on torch only (use --backend torch or auto)")
        if requested == "tensorrt" and not has_tensorrt:
            raise ValueError("--backend tensorrt: TensorRT is not installed here (the [jetson] "
                             "extra); use --backend onnxruntime, torch or auto")
        return requested, "asked for"
    preferred = BACKENDS[BACKENDS.index(profile_backend):]
    why = f"the device profile prefers {profile_backend}"
    if "tensorrt" in preferred and exportable and has_tensorrt:
        return "tensorrt", why
    if "onnxruntime" in preferred and exportable:
        return "onnxruntime", why + (" but TensorRT is not installed"
                                     if profile_backend == "tensorrt" else "")
    if profile_backend == "torch":
        return "torch", why
    return "torch", why + f" but {model} has no export spec"


PIPELINE_MODELS = {"mono": "mono-depth", "stereo": "stereo", "mvs": "mvs"}   # pipeline → model


def pipeline_model_options(pipeline: str, profile, max_disparity: float | None = None,
                           min_sources: int | None = None) -> dict:
    """The predictor options a pipeline's model runs with on ``profile`` (``edgegeo run`` and
    ``edgegeo bench runtime`` alike): mono at the profile's short side; stereo without the
    per-frame rectification check (sources deliver rectified pairs by construction); mvs with
    the card's ``min_sources`` unless one is given."""
    if pipeline not in PIPELINE_MODELS:
        raise ValueError(f"pipeline {pipeline!r} has no model; one of "
                         f"{', '.join(PIPELINE_MODELS)}")
    if pipeline == "mono":
        return {"resolution": min(profile.resolution)}
    if pipeline == "stereo":
        return {"max_disparity": max_disparity, "check_rectification": False}
    return {} if min_sources is None else {"min_sources": min_sources}
