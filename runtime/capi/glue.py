"""The C entry points (cffi ``def_extern``), installed by the library's init code in the
embedded interpreter: pointers become numpy views, Python errors become return codes and
``eg_last_error()`` messages, objects become opaque handles the C side holds."""
from __future__ import annotations

import threading

import numpy as np

ERROR = -1


def install(ffi) -> None:
    """Define every function of ``edgegeo.h`` on ``ffi`` (the embedded module's FFI)."""
    from . import calls

    local = threading.local()
    handles: dict[int, tuple[str, object, object]] = {}   # address → (kind, object, handle)

    def fail(exc: BaseException):
        message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
        local.error = ffi.new("char[]", message.encode("utf-8", "replace"))

    def guarded(default):
        def wrap(function):
            def call(*args):
                try:
                    return function(*args)
                except Exception as exc:     # every failure becomes a code + a message
                    fail(exc)
                    return default
            call.__name__ = function.__name__
            return call
        return wrap

    def new_handle(kind: str, obj, ctype: str):
        handle = ffi.new_handle(obj)
        pointer = ffi.cast(ctype, handle)
        handles[int(ffi.cast("uintptr_t", pointer))] = (kind, obj, handle)
        return pointer

    def lookup(pointer, kind: str):
        if pointer == ffi.NULL:
            raise ValueError(f"the {kind} is NULL")
        entry = handles.get(int(ffi.cast("uintptr_t", pointer)))
        if entry is None or entry[0] != kind:
            raise ValueError(f"not an open {kind} (already freed or closed?)")
        return entry[1]

    def text(pointer, name: str, allow_null: bool = False):
        if pointer == ffi.NULL:
            if allow_null:
                return None
            raise ValueError(f"{name} is NULL")
        return ffi.string(pointer).decode()

    def rgb(pointer, height, width, stride, name):
        if pointer == ffi.NULL:
            raise ValueError(f"{name} is NULL")
        if height <= 0 or width <= 0 or stride < 3 * max(width, 0):
            return calls.rgb_view(b"", height, width, stride, name)   # raises the message
        size = stride * (height - 1) + 3 * width
        return calls.rgb_view(ffi.buffer(pointer, size), height, width, stride, name)

    def output(pointer, height, width):
        if pointer == ffi.NULL:
            raise ValueError("out is NULL")
        return np.frombuffer(ffi.buffer(pointer, 4 * height * width), np.float32).reshape(
            height, width)

    def matrix(pointer, n: int, name: str, allow_null: bool = False):
        if pointer == ffi.NULL:
            if allow_null:
                return None
            raise ValueError(f"{name} is NULL")
        return np.frombuffer(ffi.buffer(pointer, 8 * n * n), np.float64).reshape(n, n).copy()

    @ffi.def_extern()
    @guarded(ERROR)
    def eg_init():
        return 0

    @ffi.def_extern()
    def eg_shutdown():
        for kind, obj, _ in list(handles.values()):
            if kind == "pipeline":
                try:
                    obj.close()
                except Exception:           # shutting down: close what can be closed
                    pass
        handles.clear()

    @ffi.def_extern()
    def eg_last_error():
        return getattr(local, "error", None) or ffi.NULL

    @ffi.def_extern()
    @guarded(ffi.NULL)
    def eg_model_load(name, backend, precision):
        import edgegeo

        precision = text(precision, "precision", True)
        model = edgegeo.load(text(name, "name"),
                             backend=text(backend, "backend", True) or "auto",
                             **({"precision": precision} if precision else {}))
        return new_handle("model", model, "eg_model *")

    @ffi.def_extern()
    @guarded(ERROR)
    def eg_depth(model, pixels, height, width, stride, out):
        predictor = lookup(model, "model")
        result = calls.depth_map(predictor, rgb(pixels, height, width, stride, "rgb"))
        output(out, height, width)[...] = result
        return 0

    @ffi.def_extern()
    @guarded(ERROR)
    def eg_stereo(model, left, right, height, width, stride, out):
        predictor = lookup(model, "model")
        result = calls.stereo_map(predictor, rgb(left, height, width, stride, "left"),
                                  rgb(right, height, width, stride, "right"))
        output(out, height, width)[...] = result
        return 0

    @ffi.def_extern()
    def eg_model_free(model):
        if model != ffi.NULL:
            handles.pop(int(ffi.cast("uintptr_t", model)), None)

    @ffi.def_extern()
    @guarded(ffi.NULL)
    def eg_pipeline_open(pipeline, options):
        return new_handle("pipeline", calls.PushPipeline(text(pipeline, "pipeline"),
                                                         text(options, "options", True)),
                          "eg_pipeline *")

    @ffi.def_extern()
    @guarded(ERROR)
    def eg_pipeline_push_rgbd(pipeline, pixels, depth, height, width, K, pose, timestamp):
        target = lookup(pipeline, "pipeline")
        image = rgb(pixels, height, width, 3 * width, "rgb")
        if depth == ffi.NULL:
            raise ValueError("depth_mm is NULL")
        depth_mm = np.frombuffer(ffi.buffer(depth, 2 * height * width), np.uint16).reshape(
            height, width)
        target.push(image, depth_mm, matrix(K, 3, "K"), matrix(pose, 4, "world_T_cam", True),
                    timestamp)
        return 0

    @ffi.def_extern()
    @guarded(ERROR)
    def eg_pipeline_save_mesh(pipeline, path):
        lookup(pipeline, "pipeline").save_mesh(text(path, "ply_path"))
        return 0

    @ffi.def_extern()
    def eg_pipeline_close(pipeline):
        if pipeline == ffi.NULL:
            return
        entry = handles.pop(int(ffi.cast("uintptr_t", pipeline)), None)
        if entry is not None:
            try:
                entry[1].close()
            except Exception as exc:
                fail(exc)
