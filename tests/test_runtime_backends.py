"""``--backend auto``: the device profile's preferred backend, falling back tensorrt →
onnxruntime → torch by what is installed and what the model can be exported to; a backend
asked for by name that cannot run is a clear error."""
import pytest

from edgegeo.runtime.backends import choose_backend


@pytest.mark.parametrize("profile, exportable, has_tensorrt, backend, reason", [
    ("tensorrt", True, True, "tensorrt", "the device profile prefers tensorrt"),
    ("tensorrt", True, False, "onnxruntime",
     "the device profile prefers tensorrt but TensorRT is not installed"),
    ("tensorrt", False, True, "torch",
     "the device profile prefers tensorrt but stereo has no export spec"),
    ("onnxruntime", True, True, "onnxruntime", "the device profile prefers onnxruntime"),
    ("onnxruntime", False, False, "torch",
     "the device profile prefers onnxruntime but stereo has no export spec"),
    ("torch", True, True, "torch", "the device profile prefers torch"),
])
def test_auto_falls_back_from_the_profile(profile, exportable, has_tensorrt, backend, reason):
    assert choose_backend("stereo", "auto", profile, exportable, has_tensorrt) == (backend,
                                                                                  reason)


def test_a_named_backend_is_used_if_it_can_run():
    assert choose_backend("mvs", "torch", "tensorrt", False, False) == ("torch", "asked for")
    assert choose_backend("mvs", "onnxruntime", "torch", True, False) == ("onnxruntime",
                                                                         "asked for")
    with pytest.raises(ValueError, match="--backend tensorrt: TensorRT is not installed"):
        choose_backend("mono-depth", "tensorrt", "tensorrt", True, False)
    with pytest.raises(ValueError, match="--backend onnxruntime: mvs has no export spec yet"):
        choose_backend("mvs", "onnxruntime", "onnxruntime", False, True)
    with pytest.raises(ValueError, match="unknown backend 'openvino'"):
        choose_backend("mvs", "openvino", "cpu", True, True)
