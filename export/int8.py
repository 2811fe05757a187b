"""fp32 ONNX graph → explicitly quantized int8 graph (Q/DQ nodes).

Library: ``onnxruntime.quantization.quantize_static`` in ``QuantFormat.QDQ``. Why not our own
Q/DQ insertion: ORT's quantizer is maintained with the runtime that runs the result on the
CPU, and its QDQ output is the layout TensorRT's ONNX parser expects for explicit quantization
(``QuantizeLinear``/``DequantizeLinear`` pairs on activations, per-channel ``DequantizeLinear``
on weights with the right axis for ``Conv``/``ConvTranspose``/``MatMul``, int32 biases with scale
``s_x·s_w``, shared-tensor bookkeeping); it carries the calibrators (min-max, entropy,
percentile) over an ORT run of the augmented graph, and the pre-processing (shape inference,
graph clean-up) the calibration needs. Hand-written insertion would re-implement all of that
and its corner cases.

Settings — what TensorRT 10/11 expects now that implicit (calibrator) INT8 is deprecated:
- signed int8 activations and weights, both symmetric (zero point 0);
- weights per output channel;
- Q/DQ on the inputs of ``ExportSpec.int8_op_types`` only (convs and weight MatMuls), minus
  ``ExportSpec.int8_exclude`` (e.g. attention's activation×activation MatMuls, which would put
  Q/DQ around the softmax; the depth path of ``jbu``).

The artefact is the same for TensorRT and ONNX Runtime. ORT's CPU kernels prefer unsigned
activations on x86 (U8S8); :func:`activations_to_uint8` rewrites the activation Q/DQ pairs of an
in-memory copy to uint8 with zero point 128 — the same quantization grid shifted by 128, so
results are identical — which lets ORT fuse every Q/DQ group into QLinearConv/QLinearMatMul
(``ort_runner`` applies it on the CPU provider).
"""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx

from .onnx_export import finalize, metadata, set_metadata

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
PERCENTILE = 99.99
CALIB_CHUNK = 4
"""Frames whose intermediate outputs a histogram calibrator (percentile, entropy) holds before
folding them into its histograms: held all at once, mvs at 384×288 needs more than 24 GB."""


@contextlib.contextmanager
def _histograms_in_chunks(chunk: int):
    """Make ORT's histogram calibrators (percentile, entropy) read the calibration frames
    ``chunk`` at a time, folding each chunk into their histograms before the next: they
    otherwise hold every intermediate output of every frame at once (ORT ignores
    ``CalibMaxIntermediateOutputs`` for them). The histograms merge exactly as ORT merges
    them when its ``collect_data`` is called more than once."""
    from onnxruntime.quantization import calibrate

    original = calibrate.HistogramCalibrater.collect_data

    class _Frames(calibrate.CalibrationDataReader):
        def __init__(self, items: list):
            self.items = items

        def get_next(self):
            return self.items.pop(0) if self.items else None

    def collect_in_chunks(self, data_reader) -> None:
        while True:
            items = []
            while len(items) < chunk and (item := data_reader.get_next()):
                items.append(item)
            if not items:
                return
            original(self, _Frames(items))

    calibrate.HistogramCalibrater.collect_data = collect_in_chunks
    try:
        yield
    finally:
        calibrate.HistogramCalibrater.collect_data = original


def quantize_int8(model: onnx.ModelProto, reader, method: str = "minmax",
                  op_types: tuple[str, ...] = ("Conv", "ConvTranspose", "MatMul", "Gemm"),
                  exclude: Callable[[onnx.ModelProto], Sequence[str]] | Sequence[str] = (),
                  extra_metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """Calibrate and quantize an fp32 graph.

    Args:
        model: the fp32 graph (from :func:`export_onnx`, standard ops or custom nodes).
        reader: an ``onnxruntime.quantization.CalibrationDataReader`` (see
            ``calibration.FrameReader``).
        method: ``minmax``, ``entropy`` or ``percentile`` (99.99th).
        op_types: op types whose inputs are quantized.
        exclude: node names kept in float, or a function returning them from the graph as
            ORT's pre-processing leaves it (which may fuse and rename nodes, e.g. ``MatMul`` +
            ``Add`` → ``Gemm``); names the prepared graph lacks are ignored.
        extra_metadata: entries added to ``metadata_props``.
    Returns:
        The QDQ ``ModelProto`` (checked; float32 inputs and outputs).
    Raises:
        ValueError: unknown method.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"unknown calibration method {method!r}; use one of "
                         f"{', '.join(CALIBRATION_METHODS)}")
    from .custom_op import custom_nodes, for_onnxruntime, ort_custom_ops_library

    has_custom = bool(custom_nodes(model))
    with tempfile.TemporaryDirectory(prefix="edgegeo-int8-") as work:
        work = Path(work)
        source, prepared, output = work / "fp32.onnx", work / "pre.onnx", work / "int8.onnx"
        onnx.save(model, str(source))
        if has_custom:
            # ORT's pre-processing cannot run a graph with custom nodes; shape inference only.
            onnx.save(onnx.shape_inference.infer_shapes(model), str(prepared))
        else:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True,
                              skip_optimization=False)
        prepared_model = onnx.load(str(prepared))
        # node names may change in pre-processing: resolve exclusions on the prepared graph
        names = {node.name for node in prepared_model.graph.node}
        chosen = exclude(prepared_model) if callable(exclude) else exclude
        excluded = [name for name in chosen if name in names]
        library = None
        if has_custom:
            # calibration runs the graph in ORT: it needs the registered custom op
            onnx.save(for_onnxruntime(prepared_model), str(prepared))
            library = ort_custom_ops_library()
        extra = {"ActivationSymmetric": True, "WeightSymmetric": True,
                 "CalibPercentile": PERCENTILE}
        with _sessions_with_library(library), _histograms_in_chunks(CALIB_CHUNK):
            quantize_static(str(prepared), str(output), reader, quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QInt8,
                            weight_type=QuantType.QInt8, calibrate_method=methods[method],
                            op_types_to_quantize=list(op_types), nodes_to_exclude=excluded,
                            extra_options=extra)
        quantized = onnx.load(str(output))
    if has_custom:
        from .custom_op import ORT_PY_DOMAIN, PLUGIN_DOMAIN

        for node in quantized.graph.node:
            if node.domain == ORT_PY_DOMAIN:
                node.domain = PLUGIN_DOMAIN
        kept = [e for e in quantized.opset_import if e.domain != ORT_PY_DOMAIN]
        del quantized.opset_import[:]
        quantized.opset_import.extend(kept)
    props = metadata(model)
    props.update({"edgegeo.precision": "int8", "edgegeo.calibration_method": method})
    props.update(extra_metadata or {})
    set_metadata(quantized, props)
    return finalize(quantized)


@contextlib.contextmanager
def _sessions_with_library(library: str | None):
    """While active, ``onnxruntime.SessionOptions()`` (which ORT's calibrator creates, with no
    hook for custom ops) comes with ``library`` registered. No-op for ``None``."""
    if library is None:
        yield
        return
    import onnxruntime

    original = onnxruntime.SessionOptions

    def with_library():
        options = original()
        options.register_custom_ops_library(library)
        return options

    onnxruntime.SessionOptions = with_library
    try:
        yield
    finally:
        onnxruntime.SessionOptions = original


def quantization_summary(model: onnx.ModelProto) -> dict[str, object]:
    """Counts and properties of the Q/DQ nodes: ``quantize_nodes``, ``dequantize_nodes``,
    ``per_channel_weights`` (DQ of initializers with a 1-D scale), ``symmetric`` (every zero
    point is 0), ``activation_dtype`` / ``weight_dtype`` names, ``quantized_ops`` (op types
    fed by a DQ)."""
    from onnx import numpy_helper

    inits = {init.name: init for init in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    quantize = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    dequantize = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    zero_points, weight_types, act_types, per_channel = [], set(), set(), 0
    for node in quantize + dequantize:
        if len(node.input) > 2 and node.input[2] in inits:
            zero_points.append(numpy_helper.to_array(inits[node.input[2]]))
    for node in dequantize:
        if node.input[0] in inits:
            array = inits[node.input[0]]
            if array.data_type != onnx.TensorProto.INT32:     # biases are int32
                weight_types.add(onnx.TensorProto.DataType.Name(array.data_type))
                scale = numpy_helper.to_array(inits[node.input[1]])
                per_channel += int(scale.ndim == 1 and scale.size > 1)
    for node in quantize:
        if len(node.input) > 2 and node.input[2] in inits:
            act_types.add(onnx.TensorProto.DataType.Name(inits[node.input[2]].data_type))
    fed = {node.op_type for node in model.graph.node
           if node.op_type not in ("QuantizeLinear", "DequantizeLinear")
           and any(i in producers and producers[i].op_type == "DequantizeLinear"
                   for i in node.input)}
    return {"quantize_nodes": len(quantize), "dequantize_nodes": len(dequantize),
            "per_channel_weights": per_channel,
            "symmetric": bool(all(np.all(z == 0) for z in zero_points)),
            "activation_dtype": sorted(act_types), "weight_dtype": sorted(weight_types),
            "quantized_ops": sorted(fed)}


def activations_to_uint8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Copy of a symmetric-int8 QDQ graph with uint8 activations (zero point 128).

    ``clamp(round(x/s), -128, 127) + 128 = clamp(round(x/s) + 128, 0, 255)``: the grid and the
    dequantized values are unchanged; only the storage type of activations changes (x86 CPU
    kernels of ORT are U8S8). Weights stay int8. Graphs without int8 activations are returned
    as they are.
    """
    from onnx import numpy_helper

    inits = {init.name: init for init in model.graph.initializer}
    activation_zps, weight_zps = set(), set()
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            weight_zps.add(node.input[2])
        else:
            activation_zps.add(node.input[2])
    activation_zps = {name for name in activation_zps if name in inits
                      and inits[name].data_type == onnx.TensorProto.INT8}
    if not activation_zps:
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    del copy.graph.value_info[:]          # records int8 activation types; ORT re-infers
    inits = {init.name: init for init in copy.graph.initializer}
    renamed = {}
    for name in activation_zps:
        zero = numpy_helper.to_array(inits[name]).astype(np.int16) + 128
        new_name = name if name not in weight_zps else f"{name}__u8"
        tensor = numpy_helper.from_array(zero.astype(np.uint8), new_name)
        if new_name == name:
            inits[name].CopyFrom(tensor)
        else:
            copy.graph.initializer.append(tensor)
        renamed[name] = new_name
    for node in copy.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2 \
                and node.input[2] in renamed \
                and not (node.op_type == "DequantizeLinear" and node.input[0] in inits):
            node.input[2] = renamed[node.input[2]]
    return copy
