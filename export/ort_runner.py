"""ONNX Runtime session wrapper (:class:`OrtRunner`) for edgegeo's exported graphs.

- Providers: ``"auto"`` = CUDA EP when this onnxruntime build has it, then CPU; ``"cpu"``;
  ``"cuda"``; ``"tensorrt"`` (ORT's TensorRT EP, with CUDA and CPU fallback) or an explicit
  provider list.
- Threads: ``threads`` = intra-op threads of the CPU provider (the benchmark uses 2), one
  inter-op thread.
- Graphs with ``edgegeo::AdaptiveConv`` custom nodes get the registered custom op
  (``custom_op``); int8 graphs on the CPU provider get uint8 activations (``int8``: an exact
  rewrite that lets ORT's x86 kernels fuse every Q/DQ group).
- A missing, corrupt or truncated file raises ``FileNotFoundError`` / ``ValueError`` naming it.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from .custom_op import custom_nodes, for_onnxruntime, ort_custom_ops_library
from .int8 import activations_to_uint8
from .onnx_export import attributes, load_checked, metadata

PROVIDER_CHOICES = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def resolve_providers(providers: str | Sequence[str] = "auto") -> list[str]:
    """Provider names for ``providers`` (see the module docstring).

    Raises:
        ValueError: an unknown choice, or a provider this onnxruntime build lacks.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if isinstance(providers, str):
        if providers == "auto":
            return [p for p in PROVIDER_CHOICES["cuda"] if p in available]
        if providers not in PROVIDER_CHOICES:
            raise ValueError(f"unknown providers {providers!r}; use auto, "
                             f"{', '.join(PROVIDER_CHOICES)} or a list of provider names")
        chosen = PROVIDER_CHOICES[providers]
    else:
        chosen = list(providers)
    if chosen[0] not in available:
        raise ValueError(f"{chosen[0]} is not available in this onnxruntime build "
                         f"(available: {', '.join(available)})")
    return [p for p in chosen if p in available]


class OrtRunner:
    """An ONNX Runtime session over an exported graph.

    Args:
        model: an ``.onnx`` path or a loaded ``ModelProto``.
        threads: intra-op threads (None = ORT's default, all cores).
        providers: see :func:`resolve_providers`.

    Attributes:
        input_names, output_names: graph I/O names in order.
        metadata: the graph's ``metadata_props``; ``attributes`` the network attributes.
        providers: the providers of the session.
    """

    def __init__(self, model: str | os.PathLike | onnx.ModelProto, threads: int | None = None,
                 providers: str | Sequence[str] = "auto"):
        import onnxruntime as ort

        self.path = None if isinstance(model, onnx.ModelProto) else Path(model)
        proto = model if isinstance(model, onnx.ModelProto) else load_checked(model)
        self.metadata = metadata(proto)
        self.attributes = attributes(proto)
        chosen = resolve_providers(providers)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3          # errors only (fp16 graphs warn per node)
        options.inter_op_num_threads = 1
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            options.intra_op_num_threads = int(threads)
        session_model = proto
        if custom_nodes(proto):
            options.register_custom_ops_library(ort_custom_ops_library())
            session_model = for_onnxruntime(session_model)
        if chosen[0] == "CPUExecutionProvider":
            session_model = activations_to_uint8(session_model)
        try:
            self.session = ort.InferenceSession(session_model.SerializeToString(), options,
                                                providers=chosen)
        except Exception as exc:     # ORT raises its own Fail/InvalidGraph types
            where = self.path or "the graph"
            raise ValueError(f"ONNX Runtime cannot load {where}: {exc}") from None
        self.providers = self.session.get_providers()
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run on ``{input name: float32 array}`` → outputs in ``output_names`` order.

        Raises:
            ValueError: missing or unexpected input names.
        """
        missing = set(self.input_names) - set(feeds)
        extra = set(feeds) - set(self.input_names)
        if missing or extra:
            raise ValueError(f"inputs must be {self.input_names}; missing {sorted(missing)}, "
                             f"unexpected {sorted(extra)}")
        feeds = {name: np.ascontiguousarray(value, dtype=np.float32)
                 for name, value in feeds.items()}
        return self.session.run(self.output_names, feeds)

    def __repr__(self) -> str:
        return (f"OrtRunner({self.path or 'in-memory graph'}, providers={self.providers}, "
                f"model={self.metadata.get('edgegeo.model')}, "
                f"precision={self.metadata.get('edgegeo.precision')})")


def describe_io(model: onnx.ModelProto) -> dict[str, list[dict[str, Any]]]:
    """Graph inputs and outputs: name, element type and shape (ints or axis names)."""
    def entries(values):
        out = []
        for value in values:
            tensor = value.type.tensor_type
            shape = [dim.dim_param if dim.dim_param else dim.dim_value
                     for dim in tensor.shape.dim]
            out.append({"name": value.name,
                        "dtype": onnx.TensorProto.DataType.Name(tensor.elem_type).lower(),
                        "shape": shape})
        return out

    return {"inputs": entries(model.graph.input), "outputs": entries(model.graph.output)}
