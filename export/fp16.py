"""fp32 ONNX graph → strongly typed fp16 graph.

Converter: ``onnxruntime.transformers.float16.convert_float_to_float16``, shipped and maintained
with ONNX Runtime (already a dependency). It converts initializers, ``Constant`` nodes, value
infos and ``Cast`` targets to float16, keeps blocked op types in float32 with ``Cast`` nodes at
their borders, and with ``keep_io_types=True`` leaves the graph inputs/outputs float32 (the
engine takes the same input as the Python API: ``(1, 3, H, W) float32`` RGB in [0, 1]).
``onnxconverter-common``'s converter is the same code, older; the ORT copy gives us no extra
package.

The result is *strongly typed*: every tensor's type is fixed in the graph, which is what
TensorRT ≥ 10's strongly typed networks build from (no precision flags); on TensorRT 8.6 the
builder sets the FP16 flag and the explicit casts keep the blocked ops in fp32.

Ops kept in fp32 (per model, ``ExportSpec.fp16_keep_fp32``), besides ORT's default block list
(which includes ``Min``/``Max``/``Range``/``TopK``): the reductions where fp16 overflows or
loses the small differences it needs — ``LayerNormalization`` (variance of activations that
reach hundreds in ViT residual streams: Σx² exceeds 65504), ``Softmax`` / ``Exp`` / ``Log`` /
``Pow`` / ``Sqrt`` / ``ReduceMean`` / ``ReduceSum``; for ``jbu`` also the kernel normalisation
(``Div``), ``ReduceMax``/``ReduceMin`` of the depth range and the ``AdaptiveConv`` custom node
(its kernels are float32). Measured (``docs/benchmarks.md``, section *export*): with the
current mono-depth weights the block list changes nothing measurable — torch fp16 arithmetic
7.35e-4 relative error with every op in fp16 vs 7.36e-4 with LayerNorm in fp32, ORT CPU
3.4e-4 either way — because these short-trained ViTs keep small activations. It is kept as a
guard for longer-trained weights (ViT residual streams grow outliers in the hundreds, where
Σx² overflows fp16) at the cost of a few Cast nodes; revisit with TensorRT timings on a GPU.
"""
from __future__ import annotations

import onnx

from .onnx_export import finalize, metadata, set_metadata


def convert_fp16(model: onnx.ModelProto, keep_fp32_ops: tuple[str, ...] = (),
                 keep_fp32_nodes: tuple[str, ...] = ()) -> onnx.ModelProto:
    """fp16 copy of an fp32 graph (float32 graph inputs and outputs).

    Args:
        model: the fp32 graph (from :func:`export_onnx`).
        keep_fp32_ops: op types to keep in float32, added to ORT's default block list.
        keep_fp32_nodes: node names to keep in float32.
    Returns:
        The fp16 ``ModelProto`` (checked, shapes inferred, ``edgegeo.precision`` = ``fp16``
        and the kept op types recorded in its metadata).
    """
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    blocked = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    _unshare_blocked_initializers(copy, set(blocked), set(keep_fp32_nodes))
    converted = convert_float_to_float16(copy, keep_io_types=True, op_block_list=blocked,
                                         node_block_list=list(keep_fp32_nodes),
                                         disable_shape_infer=False)
    # The converter appends the input Casts after their consumers and leaves stale
    # value_info: sort the nodes, rerun inference and the checker.
    _drop_duplicate_casts(converted.graph)
    _skip_fp16_round_trips(converted.graph)
    topological_sort(converted.graph)
    del converted.graph.value_info[:]
    props = metadata(model)
    props.update({"edgegeo.precision": "fp16", "edgegeo.fp16_keep_fp32": ",".join(keep_fp32_ops)})
    set_metadata(converted, props)
    return finalize(converted)


def _unshare_blocked_initializers(model: onnx.ModelProto, blocked_ops: set[str],
                                  blocked_nodes: set[str]) -> None:
    """Give every fp32-kept node its own copy of initializers it shares with other nodes.

    The converter adds one ``<name>_cast_to_fp32`` Cast per (initializer, blocked consumer)
    and names it after the initializer only, so an initializer read by two kept nodes (the
    final LayerNorm of the ViT, applied at four tapped blocks) would give two nodes the same
    output name (not SSA).
    """
    inits = {init.name: init for init in model.graph.initializer}
    users: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            if name in inits:
                users[name] = users.get(name, 0) + 1
    for node in model.graph.node:
        if node.op_type not in blocked_ops and node.name not in blocked_nodes:
            continue
        for index, name in enumerate(node.input):
            if name in inits and users[name] > 1:
                clone = onnx.TensorProto()
                clone.CopyFrom(inits[name])
                clone.name = f"{name}__{node.name or node.output[0]}"
                model.graph.initializer.append(clone)
                node.input[index] = clone.name
                users[name] -= 1


def _skip_fp16_round_trips(graph: onnx.GraphProto) -> None:
    """Let fp32-kept nodes read fp32 tensors directly.

    The converter casts every float graph input to fp16 first (even with ``keep_io_types``)
    and casts it back to fp32 for each kept consumer; an edge between two kept nodes can also
    pass through fp16. Such a round trip rounds the value to 11 significant bits: intrinsics
    of a few hundred pixels by up to 1/8 px, poses to 0.5 mm per metre — what made the mvs
    plane sweep sample the wrong places. Each ``Cast(to=float32)`` of a ``Cast(to=float16)``
    output is rewired to the latter's input (a lossless or identity cast), and Casts nobody
    reads any more are removed.
    """
    producers = {output: node for node in graph.node for output in node.output}

    def cast_to(node: onnx.NodeProto) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) \
            if node.op_type == "Cast" else None

    for node in graph.node:
        if cast_to(node) != onnx.TensorProto.FLOAT:
            continue
        source = producers.get(node.input[0])
        if source is not None and cast_to(source) == onnx.TensorProto.FLOAT16:
            node.input[0] = source.input[0]
    outputs = {value.name for value in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        unused = [node for node in graph.node
                  if node.op_type == "Cast" and not any(o in read for o in node.output)]
        if not unused:
            return
        for node in unused:
            graph.node.remove(node)


def _drop_duplicate_casts(graph: onnx.GraphProto) -> None:
    """Remove repeated identical ``Cast`` nodes the converter writes when one tensor feeds
    several fp32-kept nodes (same output name, same input, same target type)."""
    seen: dict[str, tuple] = {}
    keep = []
    for node in graph.node:
        if node.op_type == "Cast" and node.output[0] in seen:
            if seen[node.output[0]] != (tuple(node.input), node.SerializeToString()[:0]
                                        or tuple((a.name, a.i) for a in node.attribute)):
                raise ValueError(f"fp16 conversion wrote two different Casts named "
                                 f"{node.output[0]}")
            continue
        if node.op_type == "Cast":
            seen[node.output[0]] = (tuple(node.input),
                                    tuple((a.name, a.i) for a in node.attribute))
        keep.append(node)
    if len(keep) != len(graph.node):
        copies = [onnx.NodeProto() for _ in keep]
        for copy, node in zip(copies, keep):
            copy.CopyFrom(node)
        del graph.node[:]
        graph.node.extend(copies)


def topological_sort(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` in place so every node comes after the producers of its inputs
    (stable: the original order among ready nodes is kept).

    Raises:
        ValueError: the graph has a cycle or an input nobody produces.
    """
    available = {value.name for value in graph.input} | {init.name for init in graph.initializer}
    available.add("")                                   # optional inputs left empty
    pending = list(graph.node)
    ordered = []
    while pending:
        remaining = []
        for node in pending:
            if all(name in available for name in node.input):
                ordered.append(node)
                available.update(node.output)
            else:
                remaining.append(node)
        if len(remaining) == len(pending):
            missing = sorted({n for node in remaining for n in node.input if n not in available})
            raise ValueError(f"graph cannot be sorted: inputs {missing[:5]} are never produced")
        pending = remaining
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def fp16_fraction(model: onnx.ModelProto) -> float:
    """Fraction (0–1) of the float weight elements stored as float16."""
    from onnx import TensorProto

    counts = {TensorProto.FLOAT: 0, TensorProto.FLOAT16: 0}
    for init in model.graph.initializer:
        if init.data_type in counts:
            size = 1
            for dim in init.dims:
                size *= dim
            counts[init.data_type] += size
    total = sum(counts.values())
    return counts[TensorProto.FLOAT16] / total if total else 0.0
