"""torch network → fp32 ONNX graph.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). It needs no extra package
(the ``torch.export`` one needs ``onnxscript``), exports these models in about a second, runs
the custom ``symbolic`` of the bilateral-upsample op (``edgegeo.ops.exportable``), and its
opset-17 graphs (``LayerNormalization``, Erf-GELU, ``Resize``) parse in TensorRT 8.6 and 10.

The graph: batch 1, dynamic H and W (named axes, see the model's :class:`ExportSpec`; fixed
at the export size for specs with ``dynamic_hw=False``),
normalisation inside (it is part of every edgegeo network), named inputs and outputs,
constant-folded by the exporter, ``onnx.checker`` (full check) and ONNX shape inference clean,
and metadata (``edgegeo.model``, ``edgegeo.attributes`` …) that lets a runtime rebuild the
network-like interface from the file alone. Written atomically (temporary name, then rename).
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from .cache import atomic_output
from .specs import ExportSpec

from edgegeo.ops.exportable import PLUGIN_DOMAIN

DEFAULT_OPSET = 17
# Bump when the export recipe changes (invalidates cached artefacts); 2: bilinear sampling as
# gathers instead of GridSample.
FORMAT_VERSION = "5"
"""Version of the exported graphs' layout, part of every artefact's cache key: bump it when a
model's exported graph changes for the same weights (3: JBU stages written channels-first,
stereo's row gathers, its fp16 graph keeping the geometry in fp32; 4: mvs correlation volumes
as neighbourhood gathers + MatMul; 5: the mvs graph also outputs its confidence)."""


def _adaptive_conv_mode(plugins: bool):
    """Context choosing how ``adaptive_conv`` is written (custom node or standard ops)."""
    try:
        from edgegeo.ops.exportable import onnx_adaptive_conv_mode
    except ImportError:          # no model uses the op yet
        return contextlib.nullcontext()
    return onnx_adaptive_conv_mode("plugin" if plugins else "decompose")


def export_onnx(network: torch.nn.Module, spec: ExportSpec, path: str | os.PathLike, *,
                size: tuple[int, int] | None = None, opset: int = DEFAULT_OPSET,
                plugins: bool = False, metadata: dict[str, str] | None = None) -> Path:
    """Export ``network`` to an fp32 ONNX file.

    Args:
        network: the torch network (any device; exported on CPU in eval mode; the module
            traced is ``spec.torch_graph(network)``).
        spec: the model's export spec (input/output names, dynamic axes, attributes).
        path: the ``.onnx`` file to write.
        size: ``(H, W)`` output size of the tracing example (default
            ``spec.default_size(network)``); the graph is dynamic in H and W unless the spec
            says otherwise (``dynamic_hw``), then fixed at this size.
        opset: ONNX opset of the default domain.
        plugins: write the bilateral-upsample op as the custom node ``edgegeo::AdaptiveConv``
            (TensorRT plugin / ORT custom op) instead of standard ops.
        metadata: extra ``metadata_props`` entries.
    Returns:
        ``path``.
    Raises:
        ValueError: the exported graph fails the ONNX checker or shape inference.
    """
    size = spec.check_size(size or spec.default_size(network))
    network = network.to("cpu").eval()
    attrs = export_attributes(spec, network, size)
    example = {name: torch.from_numpy(array)
               for name, array in spec.random_inputs(size, attributes=attrs).items()}
    props = {"edgegeo.model": spec.name, "edgegeo.precision": "fp32",
             "edgegeo.attributes": json.dumps(attrs),
             "edgegeo.plugins": str(bool(plugins and spec.uses_adaptive_conv)).lower(),
             "edgegeo.format_version": FORMAT_VERSION, "edgegeo.torch": torch.__version__}
    props.update(metadata or {})
    path = Path(path)
    with atomic_output(path) as temp:
        with warnings.catch_warnings(), _adaptive_conv_mode(plugins), torch.no_grad():
            # Shape checks in forward() are constants of one trace; the TorchScript exporter
            # is deprecated in favour of dynamo (see the module docstring).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                spec.torch_graph(network), tuple(example[name] for name in spec.input_names),
                str(temp),
                dynamo=False, opset_version=opset, do_constant_folding=True,
                input_names=list(spec.input_names), output_names=list(spec.outputs),
                dynamic_axes=spec.dynamic_axes(),
                custom_opsets={PLUGIN_DOMAIN: 1} if plugins and spec.uses_adaptive_conv
                else None)
        model = onnx.load(str(temp))
        model = finalize(model, props)
        onnx.save(model, str(temp))
    return path


def export_attributes(spec: ExportSpec, network: torch.nn.Module, size: tuple[int, int]
                      ) -> dict[str, Any]:
    """``spec.attributes(network)`` plus, for a fixed-size graph, ``input_size`` ``[H, W]``
    (what the runtime network and the TensorRT profile read back)."""
    attrs = dict(spec.attributes(network))
    if not spec.dynamic_hw:
        attrs["input_size"] = [int(size[0]), int(size[1])]
    return attrs


def finalize(model: onnx.ModelProto, props: dict[str, str] | None = None) -> onnx.ModelProto:
    """Set ``metadata_props``, run shape inference and the full checker.

    Raises:
        ValueError: the checker or shape inference rejects the graph.
    """
    set_metadata(model, props or {})
    prune_opset_imports(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=False,
                                                  data_prop=True)
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ValueError(f"exported graph is not valid ONNX: {exc}") from None
    return model


def prune_opset_imports(model: onnx.ModelProto) -> None:
    """Drop opset imports of domains no node uses (ORT's optimizer, run by the quantizer's
    pre-processing, declares a dozen ``com.microsoft…`` domains a TensorRT parser would
    have to ignore)."""
    used = {node.domain for node in model.graph.node} | {"", "ai.onnx"}
    kept = [entry for entry in model.opset_import if entry.domain in used]
    if len(kept) != len(model.opset_import):
        del model.opset_import[:]
        model.opset_import.extend(kept)


def set_metadata(model: onnx.ModelProto, props: dict[str, str]) -> None:
    """Add or replace ``metadata_props`` entries."""
    existing = {entry.key: entry for entry in model.metadata_props}
    for key, value in props.items():
        if key in existing:
            existing[key].value = str(value)
        else:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, str(value)


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    """``metadata_props`` as a dict."""
    return {entry.key: entry.value for entry in model.metadata_props}


def attributes(model: onnx.ModelProto) -> dict[str, Any]:
    """The network attributes stored by :func:`export_onnx` (e.g. ``{"patch_size": 16}``)."""
    return json.loads(metadata(model).get("edgegeo.attributes", "{}"))


def load_checked(path: str | os.PathLike) -> onnx.ModelProto:
    """Load an ONNX file and check it, with a clear error for missing/corrupt/truncated files.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file does not parse as ONNX or fails the checker.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file not found: {path}")
    try:
        model = onnx.load(str(path))
    except Exception as exc:     # protobuf DecodeError and friends
        raise ValueError(f"{path} is not a readable ONNX file (corrupt or truncated? "
                         f"{type(exc).__name__}: {exc}); delete it and export again") from None
    if not model.graph.node:
        raise ValueError(f"{path} holds no ONNX graph (corrupt or truncated?); delete it and "
                         f"export again")
    try:
        onnx.checker.check_model(model, full_check=False)
    except onnx.checker.ValidationError as exc:
        raise ValueError(f"{path} fails the ONNX checker (corrupt?): "
                         f"{str(exc).splitlines()[0]}") from None
    return model


def opset_imports(model: onnx.ModelProto) -> dict[str, int]:
    """Domain (``ai.onnx`` for the default) → version."""
    return {(entry.domain or "ai.onnx"): entry.version for entry in model.opset_import}
