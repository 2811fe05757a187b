"""``export_model``: a named model → ``<name>.<precision>.onnx`` + its JSON report (and
optionally a TensorRT engine); ``runtime_network``: the same, cached, behind the calling
convention of the torch network (what ``edgegeo.load(backend=...)`` uses).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from . import runtime as _runtime
from .cache import atomic_output, cache_dir, file_sha256
from .calibration import FrameReader, calibration_frames, parse_calib
from .int8 import CALIBRATION_METHODS, quantization_summary, quantize_int8
from .onnx_export import DEFAULT_OPSET, FORMAT_VERSION, export_attributes, export_onnx
from .ort_runner import OrtRunner
from .parity import TOLERANCES, check_parity, parity_frames, task_metric
from .report import build_report, read_report, report_path, write_report
from .specs import ExportSpec, get_spec

BACKENDS = ("onnxruntime", "tensorrt")
INT8_TARGET_LOSS = 0.05
DEFAULT_CALIB = "synthetic:16"


class ParityError(ValueError):
    """The exported graph does not match torch within the contract (nothing was written)."""

    def __init__(self, message: str, report: dict[str, Any]):
        super().__init__(message)
        self.report = report


@dataclass
class ExportResult:
    """What :func:`export_model` wrote: ``onnx_path``, ``report_path``, the ``report`` dict and,
    with ``engine=True``, ``engine_path``."""

    onnx_path: Path
    report_path: Path
    report: dict[str, Any] = field(repr=False)
    engine_path: Path | None = None


def load_network(name: str, weights: str | os.PathLike | None = None, config: Any = None,
                 random_init: bool = False, seed: int = 0) -> tuple[torch.nn.Module, dict]:
    """The torch network of a registered model and a description of its weights.

    Args:
        name: model name (``edgegeo.models.registry``).
        weights: a ``.safetensors`` file; default ``edgegeo/weights/<name>.safetensors``.
        config: named config or config object (default: model card, else the model default).
        random_init: no weights: a randomly initialised network (``torch.manual_seed(seed)``),
            for tests and benchmarks of the export path only.
    Returns:
        ``(network in eval mode on CPU, {"source": ..., "sha256": ...})``.
    Raises:
        ValueError: unknown model, or not registered in ``edgegeo.models.registry`` yet.
        FileNotFoundError: no weights (and not ``random_init``).
    """
    from edgegeo.models import registry

    get_spec(name)
    if name not in registry.MODELS:
        raise ValueError(f"model {name!r} has an export spec but is not in "
                         f"edgegeo.models.registry yet; pass the network explicitly")
    if random_init:
        torch.manual_seed(seed)
        built = registry.create_network(name, config=config)
        return built.eval(), {"source": "random-init", "seed": seed,
                              "config": _config_dict(built)}
    network, _, path = registry.trained_network(name, weights=weights, config=config)
    network = network.to("cpu").eval()
    return network, {"source": str(path), "sha256": file_sha256(path),
                     "config": _config_dict(network)}


def _config_dict(network) -> Any:
    config = getattr(network, "config", None)
    return config.to_dict() if hasattr(config, "to_dict") else repr(config)


def export_model(name: str, precision: str = "fp32", out_dir: str | os.PathLike = ".", *,
                 network: torch.nn.Module | None = None, weights: str | os.PathLike | None = None,
                 config: Any = None, random_init: bool = False, plugins: bool = True,
                 calib: str | os.PathLike = DEFAULT_CALIB, calib_method: str | None = None,
                 calib_limit: int | None = 64, size: tuple[int, int] | None = None,
                 parity_sources: tuple[str, ...] | None = None,
                 opset: int = DEFAULT_OPSET, engine: bool = False,
                 engine_options: dict[str, Any] | None = None, strict: bool = True,
                 weights_info: dict[str, Any] | None = None) -> ExportResult:
    """Export a model at one precision, check it against torch and write its report.

    Args:
        name: model name (``mono-depth``, ``jbu``, …).
        precision: ``fp32``, ``fp16`` or ``int8``.
        out_dir: folder for ``<name>.<precision>.onnx`` and ``<name>.<precision>.json``.
        network: the torch network to export (default: :func:`load_network`).
        weights, config, random_init: passed to :func:`load_network`.
        plugins: the bilateral-upsample op as the custom node ``edgegeo::AdaptiveConv``
            (False: standard ops, ``--no-plugins``). No effect on models without the op.
        calib: int8 calibration data, ``DIR`` or ``synthetic:N``.
        calib_method: ``minmax``, ``entropy`` or ``percentile`` (default the spec's
            ``int8_calib_method``).
        calib_limit: at most this many frames from a folder.
        size: ``(H, W)`` output size for tracing, calibration and checks (default
            ``spec.default_size(network)``: the deployment size, or the network's working size
            for fixed-size graphs); the graph stays dynamic in H and W where the spec allows.
        parity_sources: inputs of the torch comparison (see ``parity.parity_frames``; default
            the spec's ``parity_sources``).
        opset: ONNX opset.
        engine: also build (or reuse from the cache) a TensorRT engine.
        engine_options: passed to ``tensorrt_engine.build_engine``.
        strict: raise :class:`ParityError` (writing nothing) when fp32/fp16 parity fails.
        weights_info: the report's ``weights`` entry when ``network`` is given.
    Returns:
        :class:`ExportResult`.
    Raises:
        ValueError: unknown model or precision, precision the model does not support, bad
            calibration method or size; :class:`ParityError`.
        FileNotFoundError: calibration folder or weights missing.
        RuntimeError: ``engine=True`` where TensorRT does not import.
    """
    spec = get_spec(name)
    spec.check_precision(precision)
    if size is not None:
        size = spec.check_size(size)
    source = None
    calib_method = calib_method or spec.int8_calib_method
    if precision == "int8":
        if calib_method not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method {calib_method!r}; use one of "
                             f"{', '.join(CALIBRATION_METHODS)}")
        source = parse_calib(calib)
    if engine:
        from .tensorrt_engine import require_tensorrt

        require_tensorrt()
    if network is None:
        network, weights_info = load_network(name, weights, config, random_init)
    network = network.to("cpu").eval()
    spec = spec.for_network(network)
    size = size or spec.default_size(network)
    attrs = export_attributes(spec, network, size)
    weights_info = weights_info or {"source": "caller-provided network"}
    out_dir = Path(out_dir)
    onnx_path = out_dir / f"{name}.{precision}.onnx"

    details: dict[str, Any] = {"size": list(size)}
    with tempfile.TemporaryDirectory(prefix="edgegeo-export-") as work:
        fp32_path = Path(work) / f"{name}.fp32.onnx"
        export_onnx(network, spec, fp32_path, size=size, opset=opset, plugins=plugins)
        model = onnx.load(str(fp32_path))
    if precision == "fp16":
        from .fp16 import convert_fp16, fp16_fraction

        keep_nodes = spec.fp16_keep_fp32_nodes(model)
        model = convert_fp16(model, spec.fp16_keep_fp32, tuple(keep_nodes))
        details["fp16"] = {"keep_fp32_ops": list(spec.fp16_keep_fp32),
                           "keep_fp32_nodes": len(keep_nodes),
                           "fp16_weight_fraction": fp16_fraction(model),
                           "io_dtype": "float32"}
    elif precision == "int8":
        frames = calibration_frames(source, spec.frame_kind, size, spec.needs_depth,
                                    calib_limit)
        reader = FrameReader(spec, frames, size, attrs)
        model = quantize_int8(model, reader.reader, calib_method, spec.int8_op_types,
                              spec.int8_exclude,
                              {"edgegeo.calibration": source.describe()})
        details["int8"] = {"calibration": {"source": source.describe(), "frames": len(reader),
                                           "method": calib_method, "size": list(size)},
                           **quantization_summary(model)}
    cases = parity_frames(spec, parity_sources or spec.parity_sources, size, attrs)
    tolerance = TOLERANCES.get(precision)
    with atomic_output(onnx_path) as temp:
        onnx.save(model, str(temp))
        runtime = _runtime.wrap(OrtRunner(temp, providers="cpu"), spec.runtime_class, name)
        parity = check_parity(network, runtime, spec, cases, tolerance)
        metric = task_metric(network, runtime, spec, cases) if precision == "int8" else None
        if metric:
            metric["target_relative_loss"] = INT8_TARGET_LOSS
            metric["target_met"] = bool(metric["relative_loss"] <= INT8_TARGET_LOSS)
        report = build_report(spec, precision, temp, model, plugins=plugins,
                              weights=weights_info, attributes=runtime.runner.attributes,
                              parity=parity, task_metric=metric, details=details)
        report["onnx"]["file"] = onnx_path.name
        if strict and not report["parity_passed"]:
            worst = max(parity, key=lambda row: row["rel_error"])
            raise ParityError(f"{name} {precision}: relative error {worst['rel_error']:.3g} on "
                              f"{worst['input']} exceeds {tolerance:g}; nothing written",
                              report)
    if engine:
        from .tensorrt_engine import build_engine

        engine_path = build_engine(onnx_path, spec, precision, **(engine_options or {}))
        report["engine"] = json.loads(engine_path.with_suffix(".json").read_text())
    else:
        engine_path = None
    json_path = write_report(report_path(onnx_path), report)
    return ExportResult(onnx_path, json_path, report, engine_path)


# ----------------------------------------------------------------------------- runtime

def network_hash(network: torch.nn.Module) -> str:
    """SHA-256 over the network's class, config and state dict (names, dtypes, shapes,
    bytes): the identity of the weights an artefact was exported from."""
    digest = hashlib.sha256()
    digest.update(type(network).__qualname__.encode())
    digest.update(repr(_config_dict(network)).encode())
    for key, value in sorted(network.state_dict().items()):
        tensor = value.detach().to("cpu").contiguous()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16
                      else tensor.float().numpy().tobytes())
    return digest.hexdigest()


def runtime_network(name: str, network: torch.nn.Module, backend: str = "onnxruntime",
                    precision: str = "fp32", cache: str | os.PathLike | None = None,
                    input_example: Any = None, *, plugins: bool | None = None,
                    threads: int | None = None, providers: str = "auto",
                    calib: str = DEFAULT_CALIB, calib_method: str | None = None,
                    engine_options: dict[str, Any] | None = None):
    """A network-like object running ``network`` exported at ``precision`` on ``backend``.

    Exports into the artefact cache on first use (``<cache>/onnx/<name>/<key>/``, key = hash
    of the weights, config, precision, plugin mode, opset, export format and, for int8, the
    calibration), reuses the artefact afterwards (its hash is checked against its report; a
    corrupt or mismatching file is exported again). ``backend="tensorrt"`` builds or loads
    the engine from the engine cache.

    Args:
        name: model name (``mono-depth``, ``jbu``, ``stereo``, ``mvs``).
        network: the torch network with its weights (e.g. ``edgegeo.load(name).model``).
        backend: ``onnxruntime`` or ``tensorrt``.
        precision: ``fp32``, ``fp16`` or ``int8``.
        cache: artefact cache folder (default ``$EDGEGEO_CACHE`` or ``~/.cache/edgegeo``).
        input_example: a tensor / array / ``(H, W)`` giving the tracing and calibration size
            (default ``spec.default_size(network)``); the graph is dynamic in H and W where the
            spec allows (``mvs``: fixed at this size).
        plugins: custom ``edgegeo::AdaptiveConv`` node; default False for onnxruntime (the
            standard-ops graph runs anywhere; the Python custom op is no faster on the CPU),
            True for tensorrt where ``tensorrt.plugin`` exists (≥ 10.6), else decomposed.
        threads: ORT intra-op threads; providers: ORT providers (``auto``, ``cpu``, ``cuda``).
        calib, calib_method: int8 calibration (method default: the spec's).
        engine_options: TensorRT builder options (profile shapes, workspace …).
    Returns:
        A ``RuntimeNetwork`` (``JBURuntimeNetwork`` for ``jbu``, ``MVSRuntimeNetwork`` for
        ``mvs``): ``net(*tensors)`` → tensor, ``.to()``, ``.eval()``, the network's
        attributes; plugs into the model's predictor.
    Raises:
        ValueError: unknown model, backend or precision. RuntimeError: tensorrt missing.
    """
    spec = get_spec(name).for_network(network)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    spec.check_precision(precision)
    if backend == "tensorrt":
        from .tensorrt_engine import require_tensorrt

        require_tensorrt()
    if plugins is None:            # TensorRT 8.6 (JetPack 5) has no Python plugin API
        from .trt_plugin import plugin_api_status

        plugins = backend == "tensorrt" and plugin_api_status()[0]
    size = _size_of(spec, input_example, network)
    calib_method = calib_method or spec.int8_calib_method
    key_fields = {"name": name, "precision": precision, "plugins": bool(plugins),
                  "opset": DEFAULT_OPSET, "format": FORMAT_VERSION, "size": list(size),
                  "network": network_hash(network),
                  "calib": [str(calib), calib_method] if precision == "int8" else None}
    key = hashlib.sha256(json.dumps(key_fields, sort_keys=True).encode()).hexdigest()[:20]
    folder = cache_dir(cache) / "onnx" / name / key
    onnx_path = folder / f"{name}.{precision}.onnx"
    if not _cached_artefact_ok(onnx_path):
        export_model(name, precision, folder, network=network, plugins=plugins, calib=calib,
                     calib_method=calib_method, size=size, parity_sources=("random:1",),
                     weights_info={"source": "runtime_network", "network_sha256":
                                   key_fields["network"]})
    if backend == "onnxruntime":
        runner = OrtRunner(onnx_path, threads=threads, providers=providers)
    else:
        from .tensorrt_engine import TensorRTRunner, build_engine

        engine_path = build_engine(onnx_path, spec, precision, cache=cache,
                                   **(engine_options or {}))
        runner = TensorRTRunner(engine_path)
    return _runtime.wrap(runner, spec.runtime_class, name)


def _size_of(spec: ExportSpec, example: Any, network: torch.nn.Module) -> tuple[int, int]:
    if example is None:
        return spec.default_size(network)
    if isinstance(example, (tuple, list)) and len(example) == 2 \
            and all(isinstance(v, int) for v in example):
        return spec.check_size(example)
    if isinstance(example, dict):
        example = example[next(i.name for i in spec.inputs
                               if i.spatial_axes is not None and i.divisor == 1)]
    shape = tuple(np.shape(example))
    return spec.check_size(shape[-2:])


def _cached_artefact_ok(onnx_path: Path) -> bool:
    """The cached ONNX exists, its report exists and records this file's hash."""
    json_path = report_path(onnx_path)
    if not onnx_path.is_file() or not json_path.is_file():
        return False
    try:
        return read_report(json_path)["onnx"]["sha256"] == file_sha256(onnx_path)
    except (ValueError, KeyError, TypeError):
        return False
