"""TensorRT engines and the edgegeo::AdaptiveConv plugin (``-m tensorrt``).

Skipped, with the reason shown, where ``tensorrt`` does not import or there is no CUDA device
(this CPU-only CI). On a device with TensorRT: engines for mono-depth at fp32 / fp16 / int8
match torch (fp32 ≤ 1e-4 → 1e-3 here: TF32 and kernel choice; fp16 ≤ 1e-2), the engine cache
reuses a good engine and rebuilds a corrupt one, the runtime network drives the torch
predictor, and the plugin graph of jbu matches the decomposed graph.
"""
import importlib.util

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.tensorrt


def _why_not() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed here (tensorrt does not import)"
    if not torch.cuda.is_available():
        return "no CUDA device (torch.cuda.is_available() is False)"
    return None


REASON = _why_not()
if REASON is not None:
    pytest.skip(REASON, allow_module_level=True)

from edgegeo.export import export_model, get_spec, runtime_network  # noqa: E402
from edgegeo.export.parity import relative_error  # noqa: E402
from edgegeo.export.tensorrt_engine import TensorRTRunner, build_engine  # noqa: E402
from edgegeo.models.jbu import DepthJBU, JBUConfig  # noqa: E402
from edgegeo.models.mono_depth import (MonoDepthNet, MonoDepthNetConfig,  # noqa: E402
                                       MonoDepthPredictor)

SIZE = (64, 96)
PROFILE = ((32, 32), (64, 96), (128, 128))
TOLERANCE = {"fp32": 1e-3, "fp16": 1e-2, "int8": 0.15}


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    net = MonoDepthNet(MonoDepthNetConfig.tiny()).eval()
    with torch.no_grad():
        net.decoder.head_out.weight.mul_(40.0)
    return net


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_torch(tmp_path, network, precision):
    spec = get_spec("mono-depth")
    result = export_model("mono-depth", precision, tmp_path, network=network, size=SIZE,
                          calib="synthetic:2", parity_sources=("random:1",))
    engine = build_engine(result.onnx_path, spec, precision, cache=tmp_path, profile=PROFILE)
    runner = TensorRTRunner(engine)
    image = torch.rand(1, 3, 48, 112)
    with torch.no_grad():
        expected = network(image).numpy()
    got = runner.run({"image": image.numpy()})[0]
    assert relative_error(got, expected) <= TOLERANCE[precision]


def test_engine_cache_reuses_and_rebuilds(tmp_path, network):
    spec = get_spec("mono-depth")
    result = export_model("mono-depth", "fp32", tmp_path, network=network, size=SIZE,
                          parity_sources=("random:1",))
    first = build_engine(result.onnx_path, spec, "fp32", cache=tmp_path, profile=PROFILE)
    stamp = first.stat().st_mtime_ns
    assert build_engine(result.onnx_path, spec, "fp32", cache=tmp_path,
                        profile=PROFILE).stat().st_mtime_ns == stamp
    assert list((tmp_path / "timing").glob("*.cache"))
    first.write_bytes(first.read_bytes()[:4096])                 # truncated
    with pytest.raises(ValueError, match="refusing to load"):
        TensorRTRunner(first)
    rebuilt = build_engine(result.onnx_path, spec, "fp32", cache=tmp_path, profile=PROFILE)
    assert rebuilt == first and TensorRTRunner(rebuilt)


def test_runtime_network_tensorrt_drives_the_predictor(tmp_path, network):
    net = runtime_network("mono-depth", network, "tensorrt", "fp16", cache=tmp_path,
                          input_example=SIZE, engine_options={"profile": PROFILE})
    image = (np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8)
    expected = MonoDepthPredictor(network, resolution=64)(image)
    got = MonoDepthPredictor(net, resolution=64, device="cuda")(image)
    assert relative_error(got, expected) <= 1e-2


def test_adaptive_conv_plugin_matches_decomposed_graph(tmp_path):
    pytest.importorskip("tensorrt.plugin", reason="TensorRT < 10.6 has no Python plugin API")
    torch.manual_seed(0)
    jbu = DepthJBU(JBUConfig.named("tiny")).eval()
    spec = get_spec("jbu")
    size, profile = (32, 48), ((32, 32), (32, 48), (64, 64))
    engines = {}
    for plugins in (True, False):
        result = export_model("jbu", "fp32", tmp_path / str(plugins), network=jbu,
                              plugins=plugins, size=size, parity_sources=("random:1",))
        engines[plugins] = TensorRTRunner(build_engine(result.onnx_path, spec, "fp32",
                                                       cache=tmp_path, profile=profile))
    feeds = spec.random_inputs(size, seed=1)
    with torch.no_grad():
        expected = jbu(torch.from_numpy(feeds["depth"]), torch.from_numpy(feeds["image"])).numpy()
    for runner in engines.values():
        assert relative_error(runner.run(feeds)[0], expected) <= 1e-3
