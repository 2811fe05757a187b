"""What the export layer needs to know about each model: one :class:`ExportSpec` per name.

A model is one entry in :data:`EXPORT_SPECS`: its input and output names, how the input shapes
follow from the output size, its deployment size and TensorRT profile range, the precisions it
supports, the ops its fp16 graph keeps in fp32 and its int8 graph quantizes, the kind of frame
it calibrates and checks on (``frames``) and how such a frame becomes its inputs, its task
metric, and the attributes a runtime network must expose to the model's predictor. Networks
themselves come from ``edgegeo.models.registry`` (weights, configs); the model-specific
functions of ``stereo`` and ``mvs`` live in ``stereo_spec`` and ``mvs_spec``.

Sizes are ``(H, W)`` in pixels of the *output* map (= the full-resolution image for every model
so far); each spec derives its input shapes from it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import resize_nearest, rgb_tensor
from .mvs_spec import (MVSGraph, geometry_nodes, mvs_attributes, mvs_frame_inputs, mvs_metric,
                       mvs_working_size, unquantized_matmuls)
from .stereo_spec import (CROCO_TILE_SIZE, DEPLOYMENT_SIZE, croco_stereo_attributes,
                          stereo_attributes, stereo_frame_inputs, stereo_geometry_nodes,
                          stereo_metric)

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class InputSpec:
    """One float32 graph input, batch 1: an image-like ``(1, [n,] channels, H // divisor,
    W // divisor)`` or, with ``matrix``, a per-item array ``(1, [n,] *matrix)``.

    Attributes:
        name: the ONNX input name.
        channels: channel count (image-like inputs).
        divisor: the input's size is the output size divided by this.
        axis_names: names of the dynamic H and W axes in the ONNX graph.
        count: the network attribute (``ExportSpec.attributes``) giving an axis ``n`` after
            the batch axis (``num_sources``: the mvs source views), or None for none.
        matrix: trailing shape of a non-image input (``(3, 3)`` intrinsics, ``(4, 4)``
            poses, ``()`` one flag per item), or None for an image-like input.
    """

    name: str
    channels: int = 3
    divisor: int = 1
    axis_names: tuple[str, str] = ("height", "width")
    count: str | None = None
    matrix: tuple[int, ...] | None = None

    def shape(self, size: tuple[int, int], attributes: dict[str, Any] | None = None
              ) -> tuple[int, ...]:
        """The input's shape for an output of ``size = (H, W)``.

        Raises:
            ValueError: ``count`` set and missing from ``attributes``.
        """
        lead = ()
        if self.count is not None:
            if not attributes or self.count not in attributes:
                raise ValueError(f"input {self.name} needs the network attribute "
                                 f"{self.count!r} for its shape")
            lead = (int(attributes[self.count]),)
        if self.matrix is not None:
            return (1, *lead, *self.matrix)
        return (1, *lead, self.channels, size[0] // self.divisor, size[1] // self.divisor)

    @property
    def spatial_axes(self) -> tuple[int, int] | None:
        """Axis indices of H and W, or None for a non-image input."""
        if self.matrix is not None:
            return None
        first = 3 if self.count is not None else 2
        return first, first + 1


@dataclass(frozen=True)
class ExportSpec:
    """How one named model is exported, checked and run (see the module docstring).

    Attributes:
        name: the model name (registry, CLI, artefact file names).
        inputs: graph inputs in ``forward`` argument order.
        outputs: graph output names.
        output_axis_names: dynamic H and W axis names of the outputs.
        size_multiple: output sizes must be multiples of this (patch size, ×4 upsampling…).
        deployment_size: ``(H, W)`` the model runs at on the device (latency, int8 metric).
        profile: ``(min, opt, max)`` output sizes of the TensorRT optimisation profile.
        frame_kind: the frames it calibrates and checks on (``frames.FRAME_KINDS``: ``image``,
            ``stereo``, ``posed``).
        frame_inputs: ``(frame, size, attributes)`` → inputs dict at ``size`` (numpy float32)
            and the ground truth the metric compares with (None if the frame has none);
            ``attributes`` are the network's (``num_sources`` …).
        metric: ``(output channel 0 (H,W) float32, ground truth) → {name: value}`` (lower is
            better for the first key, the headline).
        attributes: ``torch network → {attribute: JSON value}`` a runtime network must expose
            (``patch_size`` for the mono-depth predictor...), stored in the ONNX metadata.
        precisions: precisions this model can be exported at.
        fp16_keep_fp32: op types left in fp32 in the fp16 graph (fragile reductions etc.).
        fp16_keep_fp32_nodes: ``onnx.ModelProto → node names`` left in fp32 in the fp16 graph.
        int8_op_types: op types whose inputs get Q/DQ (weights per channel) in the int8 graph.
        int8_calib_method: the int8 calibration method used unless the caller names one
            (``minmax``; ``percentile`` where a few outlier activations stretch min-max ranges
            enough to cost accuracy).
        int8_exclude: ``onnx.ModelProto → node names`` kept out of quantization (applied to
            the graph as ORT's quantization pre-processing leaves it).
        runtime_class: the network-like class wrapping a runner (see ``runtime.py``), by name.
        uses_adaptive_conv: the graph contains the bilateral-upsample op (plugin or decomposed).
        needs_depth: calibration / evaluation frames must carry depth.
        dynamic_hw: the graph is dynamic in H and W; False: fixed at the export size (stored
            as the ``input_size`` attribute), e.g. where the traced geometry bakes it in.
        graph_module: ``torch network → module`` traced into the graph (an adapter giving it
            tensor inputs and output tensors: one, or a tuple in ``outputs`` order whose first
            is what parity and metrics compare), or None for the network itself.
        working_size: ``torch network → (H, W)``, the default export size of a fixed-size
            graph (the size the model's predictor resizes to), or None: ``deployment_size``.
        parity_sources: default inputs of the torch comparison (``parity.parity_frames``).
        zero_is_no_value: 0 in the output means "no value" (mvs depth below the model's
            confidence threshold): parity compares the values where both graphs have one
            and bounds the fraction where only one has (``parity.MASK_TOLERANCE``).
        network_inputs: ``torch network → inputs`` where a network's settings change the
            graph's inputs (a hinted ``mvs`` network also takes ``hint_depth``), or None:
            ``inputs`` always (see :meth:`for_network`).
        network_outputs: ``torch network → output names`` where a network's settings change
            the graph's outputs (the ``planes`` decoder's ``mvs`` graph also has
            ``confidence``), or None: ``outputs`` always.
    """

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    output_axis_names: tuple[str, str]
    size_multiple: int
    deployment_size: tuple[int, int]
    profile: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    frame_inputs: Callable[[Any, tuple[int, int], dict[str, Any]],
                           tuple[dict[str, np.ndarray], Any]]
    metric: Callable[[np.ndarray, Any], dict[str, float]]
    attributes: Callable[[Any], dict[str, Any]]
    frame_kind: str = "image"
    precisions: tuple[str, ...] = PRECISIONS
    fp16_keep_fp32: tuple[str, ...] = ()
    fp16_keep_fp32_nodes: Callable[[Any], list[str]] = field(default=lambda model: [])
    int8_op_types: tuple[str, ...] = ("Conv", "ConvTranspose", "MatMul", "Gemm")
    int8_exclude: Callable[[Any], list[str]] = field(default=lambda model: [])
    int8_calib_method: str = "minmax"
    runtime_class: str = "RuntimeNetwork"
    uses_adaptive_conv: bool = False
    needs_depth: bool = False
    dynamic_hw: bool = True
    graph_module: Callable[[Any], Any] | None = None
    working_size: Callable[[Any], tuple[int, int]] | None = None
    parity_sources: tuple[str, ...] = ("motorcycle", "synthetic:2")
    zero_is_no_value: bool = False
    network_inputs: Callable[[Any], tuple[InputSpec, ...]] | None = None
    network_outputs: Callable[[Any], tuple[str, ...]] | None = None

    def for_network(self, network) -> ExportSpec:
        """This spec with the inputs and outputs of ``network`` (``network_inputs``,
        ``network_outputs``), or itself."""
        changes = {}
        if self.network_inputs is not None:
            changes["inputs"] = self.network_inputs(network)
        if self.network_outputs is not None:
            changes["outputs"] = self.network_outputs(network)
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    def input_shapes(self, size: tuple[int, int], attributes: dict[str, Any] | None = None
                     ) -> dict[str, tuple[int, ...]]:
        """Input name → shape for an output of ``size`` (``attributes``: the network's, for
        inputs with a ``count`` axis)."""
        self.check_size(size)
        return {spec.name: spec.shape(size, attributes) for spec in self.inputs}

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """``torch.onnx.export`` dynamic axes: H and W of image-like inputs and the outputs
        (none for a fixed-size graph)."""
        if not self.dynamic_hw:
            return {}
        axes = {spec.name: dict(zip(spec.spatial_axes, spec.axis_names))
                for spec in self.inputs if spec.spatial_axes is not None}
        axes.update({name: {2: self.output_axis_names[0], 3: self.output_axis_names[1]}
                     for name in self.outputs})
        return axes

    def check_size(self, size: Sequence[int]) -> tuple[int, int]:
        """``size`` as ``(H, W)`` ints, or ValueError if not positive multiples of
        ``size_multiple``."""
        height, width = (int(v) for v in size)
        step = self.size_multiple
        if height <= 0 or width <= 0 or height % step or width % step:
            raise ValueError(f"{self.name}: size {height}x{width} must be positive multiples of "
                             f"{step}")
        return height, width

    def default_size(self, network=None) -> tuple[int, int]:
        """The export size when none is given: the network's ``working_size`` where the spec
        has one (and a network is given), else ``deployment_size``."""
        if self.working_size is not None and network is not None:
            return self.check_size(self.working_size(network))
        return self.deployment_size

    def torch_graph(self, network):
        """The module traced into the graph (and compared with it): ``graph_module(network)``
        in eval mode, or the network itself. (Eval mode matters: the exporter restores the
        traced module's mode afterwards, recursively — a fresh adapter in training mode would
        leave the network in training mode, BatchNorm on batch statistics.)"""
        return network if self.graph_module is None else self.graph_module(network).eval()

    def random_inputs(self, size: tuple[int, int], seed: int = 0,
                      attributes: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Inputs at ``size`` from a noise frame (``frames.random_frame``)."""
        from .frames import random_frame

        return self.frame_inputs(random_frame(self.frame_kind, size, seed), size,
                                 attributes or {})[0]

    def check_precision(self, precision: str) -> str:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if precision not in self.precisions:
            raise ValueError(f"model {self.name!r} does not support precision {precision!r}; "
                             f"it supports {', '.join(self.precisions)}")
        return precision


# ----------------------------------------------------------------------------- mono-depth

def _mono_frame_inputs(frame, size, attributes):
    gt = None if frame.depth is None else resize_nearest(frame.depth, size)
    return {"image": rgb_tensor(frame.rgb, size)}, gt


def _mono_metric(disparity: np.ndarray, gt_depth: np.ndarray) -> dict[str, float]:
    from edgegeo.metrics.depth import relative_depth_metrics

    metrics = relative_depth_metrics(disparity, gt_depth)
    return {"abs_rel": metrics["abs_rel"], "a125": metrics["a125"]}


def _mono_attributes(network) -> dict[str, Any]:
    return {"patch_size": int(network.patch_size)}


def _attention_matmuls(model) -> list[str]:
    """MatMul nodes with no constant operand (attention ``q·kᵀ`` and ``softmax·v``): kept
    out of int8. Quantizing them puts Q/DQ around the softmax, which costs accuracy and, on
    the CPU, turns into a slow QLinearSoftmax."""
    constants = {init.name for init in model.graph.initializer}
    constants |= {out for node in model.graph.node if node.op_type == "Constant"
                  for out in node.output}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and not any(i in constants for i in node.input)]


# ----------------------------------------------------------------------------- jbu

JBU_SCALE = 4


def _jbu_frame_inputs(frame, size, attributes):
    from edgegeo.models.jbu import area_downsample_depth

    if frame.depth is None:
        raise ValueError("jbu needs frames with depth (synthetic frames or shards)")
    gt = resize_nearest(frame.depth, size)
    low = area_downsample_depth(gt, JBU_SCALE)
    return {"depth": np.ascontiguousarray(low[None, None], dtype=np.float32),
            "image": rgb_tensor(frame.rgb, size)}, gt


def _jbu_metric(depth: np.ndarray, gt_depth: np.ndarray) -> dict[str, float]:
    from edgegeo.metrics.depth import depth_metrics

    metrics = depth_metrics(depth, gt_depth)
    return {"abs_rel": metrics["abs_rel"], "rmse": metrics["rmse"]}


def _jbu_attributes(network) -> dict[str, Any]:
    return {"scale": int(network.scale), "num_stages": len(network.stack.stages)}


def _one_hot_convs(model) -> list[str]:
    """Convs of the decomposed adaptive conv (one-hot ``(K², 1, K, K)`` weights that unfold
    the depth channels): the depth path stays fp32, only the learned guidance and kernel
    networks are quantized."""
    from onnx import numpy_helper

    weights = {init.name: init for init in model.graph.initializer}
    constants = {out: node for node in model.graph.node if node.op_type == "Constant"
                 for out in node.output}
    names = []
    for node in model.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        source = node.input[1]
        if source in weights:
            array = numpy_helper.to_array(weights[source])
        elif source in constants:
            array = numpy_helper.to_array(constants[source].attribute[0].t)
        else:
            continue
        if array.ndim == 4 and array.shape[1] == 1 and np.isin(array, (0.0, 1.0)).all() \
                and (array.reshape(array.shape[0], -1).sum(1) == 1).all():
            names.append(node.name)
    return names


MVS_INPUTS = (InputSpec("image", 3), InputSpec("src_images", 3, count="num_sources"),
              InputSpec("K", matrix=(3, 3)),
              InputSpec("src_K", count="num_sources", matrix=(3, 3)),
              InputSpec("src_T_ref", count="num_sources", matrix=(4, 4)),
              InputSpec("source_valid", count="num_sources", matrix=()))


def mvs_inputs(network) -> tuple[InputSpec, ...]:
    """The ``mvs`` graph's inputs: :data:`MVS_INPUTS`, and for a hinted network
    (``config.hint``) ``hint_depth`` ``(1, 1, H, W)`` metres (0 = none)."""
    hinted = bool(getattr(network.config, "hint", False))
    return MVS_INPUTS + ((InputSpec("hint_depth", 1),) if hinted else ())


def mvs_outputs(network) -> tuple[str, ...]:
    """The ``mvs`` graph's outputs: ``depth``, and for the ``planes`` decoder ``confidence``."""
    planes = getattr(network.config, "decoder", None) == "planes"
    return ("depth", "confidence") if planes else ("depth",)


EXPORT_SPECS: dict[str, ExportSpec] = {
    "mono-depth": ExportSpec(
        name="mono-depth", inputs=(InputSpec("image", 3),), outputs=("disparity",),
        output_axis_names=("height", "width"), size_multiple=16, deployment_size=(256, 320),
        profile=((128, 128), (256, 320), (512, 640)),
        frame_inputs=_mono_frame_inputs, metric=_mono_metric, attributes=_mono_attributes,
        fp16_keep_fp32=("LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "Pow",
                        "Sqrt", "Exp", "Log"),
        int8_exclude=_attention_matmuls, runtime_class="RuntimeNetwork"),
    "jbu": ExportSpec(
        name="jbu", inputs=(InputSpec("depth", 1, JBU_SCALE, ("low_height", "low_width")),
                            InputSpec("image", 3)),
        outputs=("depth_up",), output_axis_names=("height", "width"), size_multiple=8,
        deployment_size=(256, 320), profile=((64, 64), (256, 320), (512, 640)),
        frame_inputs=_jbu_frame_inputs, metric=_jbu_metric, attributes=_jbu_attributes,
        fp16_keep_fp32=("Softmax", "Exp", "Pow", "ReduceSum", "ReduceMax", "ReduceMin", "Div",
                        "AdaptiveConv"),
        int8_op_types=("Conv", "MatMul", "Gemm"), int8_exclude=_one_hot_convs,
        runtime_class="JBURuntimeNetwork", uses_adaptive_conv=True, needs_depth=True),
    "stereo": ExportSpec(
        name="stereo", inputs=(InputSpec("left", 3), InputSpec("right", 3)),
        outputs=("disparity_confidence",), output_axis_names=("height", "width"),
        size_multiple=32, deployment_size=DEPLOYMENT_SIZE,
        profile=((64, 64), DEPLOYMENT_SIZE, (768, 1280)),
        frame_kind="stereo", frame_inputs=stereo_frame_inputs, metric=stereo_metric,
        attributes=stereo_attributes,
        fp16_keep_fp32=("Softmax", "ReduceSum", "ReduceL2", "Div", "Pow", "Sqrt", "Exp",
                        "Sigmoid", "AdaptiveConv"),
        fp16_keep_fp32_nodes=stereo_geometry_nodes,
        int8_op_types=("Conv",), int8_exclude=_one_hot_convs,
        uses_adaptive_conv=True, runtime_class="RuntimeNetwork"),
    "croco-stereo": ExportSpec(
        name="croco-stereo", inputs=(InputSpec("left", 3), InputSpec("right", 3)),
        outputs=("disparity_confidence",), output_axis_names=("height", "width"),
        size_multiple=8, deployment_size=CROCO_TILE_SIZE,
        profile=((32, 32), CROCO_TILE_SIZE, (192, 320)),
        frame_kind="stereo", frame_inputs=stereo_frame_inputs, metric=stereo_metric,
        attributes=croco_stereo_attributes,
        fp16_keep_fp32=("LayerNormalization", "Softmax", "ReduceMean", "ReduceSum", "Pow",
                        "Sqrt", "Exp", "Log", "Softplus"),
        int8_exclude=_attention_matmuls, runtime_class="RuntimeNetwork"),
    "mvs": ExportSpec(
        name="mvs",
        inputs=MVS_INPUTS,
        outputs=("depth",), output_axis_names=("height", "width"), size_multiple=32,
        deployment_size=(192, 256), profile=((192, 256),) * 3,
        frame_kind="posed", frame_inputs=mvs_frame_inputs, metric=mvs_metric,
        attributes=mvs_attributes, fp16_keep_fp32_nodes=geometry_nodes,
        int8_op_types=("Conv", "MatMul", "Gemm"), int8_exclude=unquantized_matmuls,
        int8_calib_method="percentile", runtime_class="MVSRuntimeNetwork", dynamic_hw=False,
        graph_module=MVSGraph, working_size=mvs_working_size,
        parity_sources=("synthetic:2",), zero_is_no_value=True,
        network_inputs=mvs_inputs, network_outputs=mvs_outputs),
}


def available_exports() -> list[str]:
    """Model names the export layer knows, sorted."""
    return sorted(EXPORT_SPECS)


def get_spec(name: str) -> ExportSpec:
    """The :class:`ExportSpec` of ``name``; ValueError naming the known models otherwise."""
    if name not in EXPORT_SPECS:
        raise ValueError(f"unknown model {name!r}; exportable: {', '.join(available_exports())}")
    return EXPORT_SPECS[name]
