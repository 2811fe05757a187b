"""Export layer: torch networks → ONNX (fp32, fp16, calibrated int8) → TensorRT engines.

    from edgegeo.export import export_model, runtime_network

    export_model("mono-depth", "int8", "out/", calib="synthetic:32")     # file + report
    net = runtime_network("mono-depth", torch_net, backend="onnxruntime", precision="int8")
    MonoDepthPredictor(net, resolution=(256, 320))                      # same predictor

Modules: ``specs`` (per-model export facts: one entry per model; ``stereo_spec`` and
``mvs_spec`` hold those two models' functions), ``frames`` (the frames a model calibrates and
checks on — single frames, stereo pairs, posed walk-through windows — and where they come
from), ``arrays``, ``onnx_export`` (torch → fp32 ONNX), ``fp16``, ``int8`` (ORT static QDQ
quantization), ``calibration``, ``custom_op`` (the ``edgegeo::AdaptiveConv`` node and its ORT
custom op), ``parity``, ``report``,
``ort_runner``, ``runtime`` (network-like wrappers), ``tensorrt_engine`` (builder, engine
cache, runner; imports TensorRT lazily), ``trt_plugin`` (the TensorRT plugin), ``cache``,
``pipeline`` (:func:`export_model`, :func:`runtime_network`), ``benchmark``.
"""
from .cache import cache_dir
from .pipeline import (BACKENDS, ExportResult, ParityError, export_model, load_network,
                       network_hash, runtime_network)
from .specs import EXPORT_SPECS, PRECISIONS, ExportSpec, available_exports, get_spec

__all__ = ["BACKENDS", "EXPORT_SPECS", "PRECISIONS", "ExportResult", "ExportSpec",
           "ParityError", "available_exports", "cache_dir", "export_model", "get_spec",
           "load_network", "network_hash", "runtime_network"]
