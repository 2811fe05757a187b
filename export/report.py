"""The JSON report written beside every exported ``<name>.<precision>.onnx``
(``<name>.<precision>.json``): what the file is, how it was made, and how it compares with
torch.

Keys: ``model``, ``precision``, ``onnx`` (file name, bytes, sha256, opset imports, IR version,
inputs/outputs with names, dtypes and shapes — axis names for dynamic axes), ``plugins``
(custom ``edgegeo::AdaptiveConv`` nodes or decomposed), ``weights`` (file and sha256, or
random init), ``attributes`` (what the runtime network exposes), ``parity`` (per input:
``rel_error`` = max|onnx − torch| / max|torch|, tolerance, passed), ``task_metric`` (int8:
torch vs int8 on the task metric and the relative loss), ``fp16`` / ``int8`` details,
``engine`` (when built), ``versions`` and ``created``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

import onnx

from edgegeo.ops.exportable import PLUGIN_ID

from .cache import file_sha256, write_json_atomic
from .onnx_export import opset_imports
from .ort_runner import describe_io

REPORT_VERSION = 1


def report_path(onnx_path: str | os.PathLike) -> Path:
    """``x/<name>.<precision>.onnx`` → ``x/<name>.<precision>.json``."""
    return Path(onnx_path).with_suffix(".json")


def versions() -> dict[str, str]:
    import numpy
    import onnxruntime
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": numpy.__version__}


def build_report(spec, precision: str, onnx_file: str | os.PathLike, model: onnx.ModelProto,
                 *, plugins: bool, weights: dict[str, Any], attributes: dict[str, Any],
                 parity: list[dict[str, Any]], task_metric: dict[str, Any] | None = None,
                 details: dict[str, Any] | None = None, sha256: str | None = None
                 ) -> dict[str, Any]:
    """The report dict (see the module docstring). ``onnx_file`` is the final file (its name
    is recorded); ``sha256`` overrides hashing it (when it is still at a temporary name)."""
    onnx_file = Path(onnx_file)
    custom = sum(1 for n in model.graph.node if n.domain == "edgegeo")
    report = {
        "report_version": REPORT_VERSION,
        "model": spec.name,
        "precision": precision,
        "onnx": {"file": onnx_file.name, "bytes": onnx_file.stat().st_size,
                 "sha256": sha256 or file_sha256(onnx_file),
                 "opset": opset_imports(model), "ir_version": model.ir_version,
                 "nodes": len(model.graph.node), **describe_io(model)},
        "plugins": {"custom_nodes": custom,
                    "mode": PLUGIN_ID if plugins and custom else
                    ("decomposed" if spec.uses_adaptive_conv else "none")},
        "weights": weights,
        "attributes": attributes,
        "relative_error_definition": "max|onnx - torch| / max|torch|",
        "parity": parity,
        "parity_passed": all(row["passed"] is not False for row in parity),
    }
    if task_metric:
        report["task_metric"] = task_metric
    report.update(details or {})
    report["versions"] = versions()
    report["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return report


def write_report(path: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Write ``report`` atomically as JSON."""
    return write_json_atomic(path, report)


def read_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read a report; ValueError if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a valid export report: {exc}") from None
