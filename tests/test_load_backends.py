"""``edgegeo.load(name, backend=...)``: the exported backends behind the same call as torch."""
import numpy as np
import pytest
import torch

import edgegeo
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig
from edgegeo.weights_io import WEIGHTS_DIR, save_weights


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _relative_error(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_mono_depth_on_onnxruntime_matches_torch(tmp_path, cache):
    torch.manual_seed(0)
    model = MonoDepthNet(MonoDepthNetConfig.tiny())
    weights = save_weights(model, "mono-depth", {
        "recipe": "mono-depth", "command": "pytest", "data": "none", "seed": 0,
        "wall_time_s": 0.0, "metrics": {}, "model_config": model.config.to_dict(),
        "predictor_options": {"resolution": 64}}, tmp_path)
    image = np.random.default_rng(0).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    reference = edgegeo.load("mono-depth", weights=weights)(image)
    exported = edgegeo.load("mono-depth", weights=weights, backend="onnxruntime")
    assert _relative_error(exported(image), reference) < 1e-4
    assert any(cache.rglob("mono-depth.fp32.onnx"))          # exported once, into the cache


@pytest.mark.skipif(not (WEIGHTS_DIR / "jbu.safetensors").is_file(), reason="no shipped jbu weights")
def test_jbu_on_onnxruntime_matches_torch(cache):
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.5, 4.0, (12, 16)).astype(np.float32)
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    reference = edgegeo.load("jbu")(depth, image)
    assert _relative_error(edgegeo.load("jbu", backend="onnxruntime")(depth, image), reference) < 1e-4


def test_bad_backend_or_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        edgegeo.load("jbu", precision="int4", backend="onnxruntime")
    with pytest.raises(ValueError, match="torch runs fp32"):
        edgegeo.load("jbu", precision="int8")
    with pytest.raises(ValueError, match="backend"):
        edgegeo.load("jbu", backend="openvino")


@pytest.mark.skipif(not (WEIGHTS_DIR / "jbu.safetensors").is_file(), reason="no shipped jbu weights")
def test_every_backend_refuses_the_same_bad_input(cache):
    """The predictor validates before its backend runs: ONNX Runtime (float32 inside) refuses
    depth near float32's maximum with torch's message instead of returning NaN."""
    image = np.zeros((48, 64, 3), np.uint8)
    depth = np.full((12, 16), 3e38, np.float32)
    messages = []
    for backend in ("torch", "onnxruntime"):
        with pytest.raises(ValueError, match="beyond the") as error:
            edgegeo.load("jbu", backend=backend)(depth, image)
        messages.append(str(error.value))
    assert messages[0] == messages[1]
