"""What the export layer needs to know about each model: one :class:`ExportSpec` per name.

Adding a model (``stereo``, ``mvs``) is one entry in :data:`EXPORT_SPECS`: its input and output
names, how the input shapes follow from the output size, its deployment size and TensorRT
profile range, the precisions it supports, the ops its fp16 graph keeps in fp32 and its int8
graph quantizes, how a dataset frame becomes its inputs, its task metric, and the attributes a
runtime network must expose to the model's predictor. Networks themselves come from
``edgegeo.models.registry`` (weights, configs).

Sizes are ``(H, W)`` in pixels of the *output* map (= the full-resolution image for every model
so far); each spec derives its input shapes from it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class InputSpec:
    """One graph input ``(1, channels, H // divisor, W // divisor)`` float32.

    Attributes:
        name: the ONNX input name.
        channels: channel count.
        divisor: the input's size is the output size divided by this.
        axis_names: names of the dynamic H and W axes in the ONNX graph.
    """

    name: str
    channels: int
    divisor: int = 1
    axis_names: tuple[str, str] = ("height", "width")

    def shape(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        return (1, self.channels, size[0] // self.divisor, size[1] // self.divisor)


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
        precisions: precisions this model can be exported at.
        fp16_keep_fp32: op types left in fp32 in the fp16 graph (fragile reductions etc.).
        int8_op_types: op types whose inputs get Q/DQ (weights per channel) in the int8 graph.
        int8_exclude: ``onnx.ModelProto → node names`` kept out of quantization.
        frame_inputs: ``(rgb (H,W,3) uint8, depth (H,W) float32 m or None, size)`` → inputs
            dict at ``size`` (numpy float32) and the ground truth the metric compares with.
        metric: ``(output (H,W) float32, ground truth) → {name: value}`` (lower is better for
            the first key, the headline).
        attributes: ``torch network → {attribute: JSON value}`` a runtime network must expose
            (``patch_size`` for the mono-depth predictor...), stored in the ONNX metadata.
        runtime_class: the network-like class wrapping a runner (see ``runtime.py``), by name.
        uses_adaptive_conv: the graph contains the bilateral-upsample op (plugin or decomposed).
        needs_depth: calibration / evaluation frames must carry depth.
    """

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    output_axis_names: tuple[str, str]
    size_multiple: int
    deployment_size: tuple[int, int]
    profile: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    frame_inputs: Callable[[np.ndarray, np.ndarray | None, tuple[int, int]],
                           tuple[dict[str, np.ndarray], Any]]
    metric: Callable[[np.ndarray, Any], dict[str, float]]
    attributes: Callable[[Any], dict[str, Any]]
    precisions: tuple[str, ...] = PRECISIONS
    fp16_keep_fp32: tuple[str, ...] = ()
    int8_op_types: tuple[str, ...] = ("Conv", "ConvTranspose", "MatMul", "Gemm")
    int8_exclude: Callable[[Any], list[str]] = field(default=lambda model: [])
    runtime_class: str = "RuntimeNetwork"
    uses_adaptive_conv: bool = False
    needs_depth: bool = False

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    def input_shapes(self, size: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
        """Input name → ``(1, C, h, w)`` for an output of ``size``."""
        self.check_size(size)
        return {spec.name: spec.shape(size) for spec in self.inputs}

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {spec.name: {2: spec.axis_names[0], 3: spec.axis_names[1]} for spec in self.inputs}
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

    def random_inputs(self, size: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
        """Random inputs at ``size`` (RGB uniform in [0, 1]; depth 0.5–5 m with 10 % holes)."""
        rng = np.random.default_rng(seed)
        rgb = (rng.random((*size, 3)) * 255).astype(np.uint8)
        depth = rng.uniform(0.5, 5.0, size).astype(np.float32)
        depth[rng.random(size) < 0.1] = 0.0
        return self.frame_inputs(rgb, depth, size)[0]

    def check_precision(self, precision: str) -> str:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if precision not in self.precisions:
            raise ValueError(f"model {self.name!r} does not support precision {precision!r}; "
                             f"it supports {', '.join(self.precisions)}")
        return precision


def _rgb_tensor(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3) uint8`` → ``(1, 3, *size) float32`` in [0, 1] (area resampling)."""
    if rgb.shape[:2] != tuple(size):
        rgb = cv2.resize(rgb, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def _resize_depth_nearest(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if depth.shape != tuple(size):
        depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(depth, dtype=np.float32)


# ----------------------------------------------------------------------------- mono-depth

def _mono_frame_inputs(rgb, depth, size):
    gt = None if depth is None else _resize_depth_nearest(depth, size)
    return {"image": _rgb_tensor(rgb, size)}, gt


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


def _jbu_frame_inputs(rgb, depth, size):
    from edgegeo.models.jbu import area_downsample_depth

    if depth is None:
        raise ValueError("jbu needs frames with depth (synthetic frames or shards)")
    gt = _resize_depth_nearest(depth, size)
    low = area_downsample_depth(gt, JBU_SCALE)
    return {"depth": np.ascontiguousarray(low[None, None], dtype=np.float32),
            "image": _rgb_tensor(rgb, size)}, gt


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
}


def available_exports() -> list[str]:
    """Model names the export layer knows, sorted."""
    return sorted(EXPORT_SPECS)


def get_spec(name: str) -> ExportSpec:
    """The :class:`ExportSpec` of ``name``; ValueError naming the known models otherwise."""
    if name not in EXPORT_SPECS:
        raise ValueError(f"unknown model {name!r}; exportable: {', '.join(available_exports())}")
    return EXPORT_SPECS[name]
