"""TensorRT engines from exported ONNX graphs: builder, engine cache, runner.

TensorRT is imported lazily (``require_tensorrt``): everything else in ``edgegeo.export`` works
without it, and ``--engine`` / ``backend="tensorrt"`` fail with a clear message where it does not
import.

Builder (:func:`build_engine`):
- TensorRT ≥ 10: a *strongly typed* network (``NetworkDefinitionCreationFlag.STRONGLY_TYPED``):
  tensor types come from the ONNX graph (fp16 graph → fp16 kernels, Q/DQ → int8), no
  precision flags (they are deprecated with implicit INT8 calibration).
- TensorRT 8.6 (JetPack 5): explicit batch, precision flags — FP16 for fp16 graphs, INT8 (+FP16)
  for Q/DQ graphs — and, for fp16 graphs, layers whose inputs the ONNX graph keeps in float32
  pinned to float32 (``OBEY_PRECISION_CONSTRAINTS``), so the fp32 block list holds there too.
- One optimisation profile per input from the model's (min, opt, max) output sizes
  (``ExportSpec.profile``, overridable), a workspace limit, and a timing cache file per
  TensorRT version + GPU (``<cache>/timing/``) reused across builds.
- Graphs with ``edgegeo::AdaptiveConv`` register the plugin first (``trt_plugin``).

Engine cache (:class:`EngineCache`, ``<cache>/engines/``): an engine is keyed by the SHA-256 of
the ONNX file, the TensorRT version, the GPU (name and compute capability), the precision and
the profile shapes. Beside each ``.engine`` a sidecar ``.json`` holds the key and the engine's
SHA-256 and size. A lookup whose sidecar is missing, unreadable or for another key, or whose
engine's size or hash differs (stale, truncated, corrupt), deletes both files and rebuilds:
an engine is never loaded unless its bytes are exactly those the builder wrote for this key.

Runner (:class:`TensorRTRunner`): ``execute_async_v3`` with torch CUDA tensors as buffers
(``set_input_shape`` / ``set_tensor_address``, the API of TensorRT 8.5+ and 10), on torch's
current stream.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cache import bytes_sha256, cache_dir, file_sha256, write_bytes_atomic, write_json_atomic

ENGINE_FORMAT = 1
DEFAULT_WORKSPACE_MIB = 1024


def require_tensorrt():
    """The ``tensorrt`` module; RuntimeError with the reason where it does not import."""
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeError(f"TensorRT engines need the tensorrt Python package, which does not "
                           f"import here ({exc}); on Jetson it comes with JetPack") from None
    return tensorrt


def trt_major(trt) -> int:
    return int(trt.__version__.split(".")[0])


def gpu_identity() -> dict[str, str]:
    """``{"name", "compute_capability"}`` of CUDA device 0 (torch, else pycuda)."""
    try:
        import torch

        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability(0)
            return {"name": torch.cuda.get_device_name(0),
                    "compute_capability": f"{major}.{minor}"}
    except Exception:      # pragma: no cover - depends on the machine
        pass
    try:
        import pycuda.autoinit  # noqa: F401
        import pycuda.driver as driver

        device = driver.Device(0)
        major, minor = device.compute_capability()
        return {"name": device.name(), "compute_capability": f"{major}.{minor}"}
    except Exception as exc:
        raise RuntimeError(f"no CUDA device visible to torch or pycuda ({exc})") from None


# ----------------------------------------------------------------------------- cache

@dataclass(frozen=True)
class EngineKey:
    """What an engine depends on. ``shapes``: input name → ``[min, opt, max]`` shapes."""

    model: str
    precision: str
    onnx_sha256: str
    tensorrt: str
    gpu: str
    compute_capability: str
    shapes: dict[str, list[list[int]]] = field(hash=False)
    plugins: str = "none"
    format: int = ENGINE_FORMAT

    def fields(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        return bytes_sha256(json.dumps(self.fields(), sort_keys=True).encode())


class EngineCache:
    """Engines under ``root`` (default ``<cache>/engines``), verified by sidecar JSON."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "engines"

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        stem = f"{key.model}.{key.precision}.{key.digest()[:20]}"
        return self.root / f"{stem}.engine", self.root / f"{stem}.json"

    def verify(self, engine_path: Path, key: EngineKey | None = None) -> tuple[bool, str]:
        """Whether ``engine_path`` is a complete engine its sidecar vouches for (and, with
        ``key``, built for that key); ``(ok, reason)``."""
        sidecar = engine_path.with_suffix(".json")
        if not engine_path.is_file():
            return False, "no engine file"
        if not sidecar.is_file():
            return False, "no sidecar JSON (engine of unknown origin)"
        try:
            info = json.loads(sidecar.read_text())
            expected_size, expected_hash = int(info["bytes"]), info["sha256"]
            recorded_key = info["key"]
        except (ValueError, KeyError, TypeError) as exc:
            return False, f"unreadable sidecar ({exc})"
        if key is not None and recorded_key != key.fields():
            return False, "sidecar is for another model/TensorRT/GPU/precision/shape"
        if engine_path.stat().st_size != expected_size:
            return False, (f"engine has {engine_path.stat().st_size} bytes, sidecar says "
                           f"{expected_size} (truncated?)")
        if file_sha256(engine_path) != expected_hash:
            return False, "engine hash differs from its sidecar (corrupt or replaced)"
        return True, ""

    def lookup(self, key: EngineKey) -> Path | None:
        """The cached engine for ``key``, or None (stale/corrupt files are deleted)."""
        engine_path, sidecar = self.paths(key)
        if not engine_path.exists() and not sidecar.exists():
            return None
        ok, reason = self.verify(engine_path, key)
        if ok:
            return engine_path
        self.last_rejection = f"{engine_path.name}: {reason}"
        for path in (engine_path, sidecar):
            if path.exists():
                path.unlink()
        return None

    def store(self, key: EngineKey, engine: bytes, extra: dict[str, Any] | None = None) -> Path:
        """Write ``engine`` and its sidecar (atomically, engine first)."""
        engine_path, sidecar = self.paths(key)
        write_bytes_atomic(engine_path, engine)
        write_json_atomic(sidecar, {"key": key.fields(), "bytes": len(engine),
                                    "sha256": bytes_sha256(engine), **(extra or {})})
        return engine_path


# ----------------------------------------------------------------------------- builder

def profile_shapes(spec, profile=None, attributes: dict[str, Any] | None = None
                   ) -> dict[str, list[list[int]]]:
    """Input name → ``[min, opt, max]`` shapes from ``(min, opt, max)`` output sizes.

    ``attributes`` are the graph's (``onnx_export.attributes``): the sizes of count axes
    (``num_sources``) and, for a fixed-size graph, its ``input_size`` — the only profile such
    a graph has.

    Raises:
        ValueError: not three sizes, or a profile other than a fixed-size graph's size.
    """
    sizes = profile or spec.profile
    if len(sizes) != 3:
        raise ValueError(f"profile must be (min, opt, max) sizes, got {sizes}")
    if not spec.dynamic_hw:
        fixed = tuple((attributes or {}).get("input_size", spec.deployment_size))
        if profile is not None and any(tuple(size) != fixed for size in profile):
            raise ValueError(f"{spec.name} graphs have a fixed size {fixed[0]}x{fixed[1]}; "
                             f"profile {profile} asks for others")
        sizes = (fixed,) * 3
    per_size = [spec.input_shapes(tuple(size), attributes) for size in sizes]
    return {name: [list(shapes[name]) for shapes in per_size] for name in spec.input_names}


def profile_for_resolution(spec, resolution, dynamic: bool = True):
    """``(min, opt, max)`` output sizes for a device profile's ``resolution`` ``(H, W)``
    (``devices/*.toml`` ``[inference] resolution``): opt = the resolution, min = half and
    max = twice it (rounded to the model's size multiple); ``dynamic=False`` gives a
    fixed-shape engine (min = opt = max), the fastest where the input size never changes
    (always, for a fixed-size graph)."""
    opt = spec.check_size(resolution)
    if not dynamic or not spec.dynamic_hw:
        return (opt, opt, opt)
    step = spec.size_multiple

    def scaled(factor):
        return tuple(max(step, int(round(v * factor / step)) * step) for v in opt)

    return (scaled(0.5), opt, scaled(2.0))


class _Logger:
    def __new__(cls, trt, verbose: bool):
        class Logger(trt.ILogger):
            def __init__(self):
                trt.ILogger.__init__(self)
                self.errors: list[str] = []

            def log(self, severity, message):
                if severity <= trt.ILogger.Severity.ERROR:
                    self.errors.append(message)
                if verbose or severity <= trt.ILogger.Severity.WARNING:
                    print(f"[TensorRT {severity.name}] {message}")

        return Logger()


def build_engine(onnx_path: str | os.PathLike, spec, precision: str, *,
                 cache: str | os.PathLike | None = None, profile=None,
                 workspace_mib: int = DEFAULT_WORKSPACE_MIB, timing_cache: bool = True,
                 rebuild: bool = False, verbose: bool = False) -> Path:
    """A TensorRT engine for an exported graph, from the engine cache or freshly built.

    Args:
        onnx_path: the ``<name>.<precision>.onnx`` file.
        spec: the model's export spec (input names, default profile).
        precision: ``fp32``, ``fp16`` or ``int8`` (must match the graph).
        cache: artefact cache folder (engines, timing caches).
        profile: ``(min, opt, max)`` output sizes (default ``spec.profile``).
        workspace_mib: builder workspace limit.
        timing_cache: load/save the timing cache file.
        rebuild: ignore a cached engine.
        verbose: print TensorRT's log.
    Returns:
        The ``.engine`` path (its sidecar ``.json`` beside it).
    Raises:
        RuntimeError: TensorRT missing, parse or build failure (with TensorRT's messages).
    """
    trt = require_tensorrt()
    from .onnx_export import attributes, load_checked

    model = load_checked(onnx_path)
    graph_precision = {e.key: e.value for e in model.metadata_props}.get("edgegeo.precision")
    if graph_precision and graph_precision != precision:
        raise ValueError(f"{onnx_path} is a {graph_precision} graph, not {precision}")
    root = cache_dir(cache)
    shapes = profile_shapes(spec, profile, attributes(model))
    has_plugin = any(node.domain == "edgegeo" for node in model.graph.node)
    plugin_mode = "none"
    if has_plugin:
        from .trt_plugin import register_plugin

        plugin_mode = register_plugin()
    gpu = gpu_identity()
    key = EngineKey(model=spec.name, precision=precision, onnx_sha256=file_sha256(onnx_path),
                    tensorrt=trt.__version__, gpu=gpu["name"],
                    compute_capability=gpu["compute_capability"], shapes=shapes,
                    plugins=plugin_mode)
    engines = EngineCache(root / "engines")
    if not rebuild:
        cached = engines.lookup(key)
        if cached is not None:
            return cached
    if has_plugin:
        from .trt_plugin import prepare_onnx_for_tensorrt

        model = prepare_onnx_for_tensorrt(model, aot=plugin_mode == "aot")
    timing_path = root / "timing" / (
        f"trt{trt.__version__}-{gpu['name'].replace(' ', '_')}-"
        f"sm{gpu['compute_capability']}.cache")
    started = time.perf_counter()
    engine = _build(trt, model.SerializeToString(), precision, shapes, workspace_mib,
                    timing_path if timing_cache else None, verbose)
    return engines.store(key, engine, {"onnx": str(Path(onnx_path).resolve()),
                                       "build_seconds": round(time.perf_counter() - started, 2),
                                       "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                       "workspace_mib": workspace_mib})


def _build(trt, onnx_bytes: bytes, precision: str, shapes: dict[str, list[list[int]]],
           workspace_mib: int, timing_path: Path | None, verbose: bool) -> bytes:
    logger = _Logger(trt, verbose)
    builder = trt.Builder(logger)
    strongly_typed = trt_major(trt) >= 10 and hasattr(trt.NetworkDefinitionCreationFlag,
                                                      "STRONGLY_TYPED")
    if strongly_typed:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    else:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError("TensorRT cannot parse the ONNX graph:\n" + "\n".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if not strongly_typed:
        _precision_flags_86(trt, network, config, precision)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        if tensor.name not in shapes:
            raise RuntimeError(f"graph input {tensor.name} has no profile shapes "
                               f"({sorted(shapes)})")
        low, opt, high = (tuple(shape) for shape in shapes[tensor.name])
        profile.set_shape(tensor.name, low, opt, high)
    config.add_optimization_profile(profile)
    cache = None
    if timing_path is not None:
        data = timing_path.read_bytes() if timing_path.is_file() else b""
        cache = config.create_timing_cache(data)
        if not config.set_timing_cache(cache, ignore_mismatch=False):
            cache = config.create_timing_cache(b"")        # a mismatching file: start anew
            config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError("TensorRT engine build failed:\n" + "\n".join(logger.errors))
    if cache is not None:
        write_bytes_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _precision_flags_86(trt, network, config, precision: str) -> None:
    """TensorRT 8.6 (no strong typing): precision flags, and fp32 kept where the graph says."""
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)       # explicit Q/DQ: no calibrator
    if precision != "fp16":
        return
    config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        inputs = [layer.get_input(i) for i in range(layer.num_inputs)]
        floats = [t for t in inputs if t is not None and t.dtype in (trt.float32, trt.float16)]
        if floats and all(t.dtype == trt.float32 for t in floats) \
                and layer.type != trt.LayerType.CAST:
            layer.precision = trt.float32


# ----------------------------------------------------------------------------- runner

class TensorRTRunner:
    """Runs a cached engine: ``run_torch({name: CUDA tensor})`` → output tensors (CUDA),
    ``run({name: array})`` → numpy arrays.

    Args:
        engine_path: an ``.engine`` with its sidecar (as :func:`build_engine` writes).
    Raises:
        ValueError: the engine fails its sidecar check or does not deserialize.
    """

    def __init__(self, engine_path: str | os.PathLike):
        trt = require_tensorrt()
        import torch

        engine_path = Path(engine_path)
        ok, reason = EngineCache(engine_path.parent).verify(engine_path)
        if not ok:
            raise ValueError(f"refusing to load {engine_path}: {reason}; delete it and build "
                             f"again")
        info = json.loads(engine_path.with_suffix(".json").read_text())
        if info["key"].get("plugins", "none") != "none":
            from .trt_plugin import register_plugin

            register_plugin()
        self.metadata = {"edgegeo.model": info["key"]["model"],
                         "edgegeo.precision": info["key"]["precision"]}
        self.attributes = self._onnx_attributes(info.get("onnx"))
        self.logger = _Logger(trt, verbose=False)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise ValueError(f"TensorRT cannot deserialize {engine_path} (built by another "
                             f"TensorRT version or GPU?): {'; '.join(self.logger.errors)}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names
                            if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if n not in self.input_names]
        self._dtypes = {n: _torch_dtype(trt, torch, self.engine.get_tensor_dtype(n))
                        for n in names}
        self.path = engine_path

    @staticmethod
    def _onnx_attributes(onnx_file: str | None) -> dict[str, Any]:
        if not onnx_file or not Path(onnx_file).is_file():
            return {}
        from .onnx_export import attributes, load_checked

        return attributes(load_checked(onnx_file))

    def run_torch(self, feeds: dict[str, Any]) -> list[Any]:
        import torch

        stream = torch.cuda.current_stream()
        keep = []
        for name in self.input_names:
            tensor = feeds[name].to("cuda", self._dtypes[name]).contiguous()
            keep.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            out = torch.empty(shape, dtype=self._dtypes[name], device="cuda")
            outputs.append(out)
            self.context.set_tensor_address(name, out.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed: {'; '.join(self.logger.errors)}")
        stream.synchronize()
        return [out.float() for out in outputs]

    def run(self, feeds: dict[str, Any]) -> list[Any]:
        import torch

        outputs = self.run_torch({k: torch.as_tensor(v) for k, v in feeds.items()})
        return [out.cpu().numpy() for out in outputs]

    def __repr__(self) -> str:
        return f"TensorRTRunner({self.path})"


def _torch_dtype(trt, torch, dtype):
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
             trt.int8: torch.int8, trt.bool: torch.bool}
    if dtype not in table:
        raise ValueError(f"unsupported engine I/O type {dtype}")
    return table[dtype]
