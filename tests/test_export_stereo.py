"""Export of the ``stereo`` cost-volume network to ONNX fp32 / fp16 / int8 (tiny network, 64×96):
graph contract (dynamic H and W, opset 17, ops TensorRT runs; the last ×2 as the
``edgegeo::AdaptiveConv`` node or decomposed into standard ops), parity with torch on the real
Motorcycle pair, fragile ops kept in fp32, int8 judged on end-point error, and ``edgegeo.load``
on ONNX Runtime against torch at an image size that is not the export size.

Relative error everywhere: max|onnx − torch| / max|torch|.
"""
import json

import numpy as np
import onnx
import pytest
import torch

import edgegeo
from edgegeo.export import export_model
from edgegeo.export.int8 import quantization_summary
from edgegeo.export.ort_runner import OrtRunner
from edgegeo.export.parity import relative_error
from edgegeo.models.stereo import CostVolumeStereo, StereoConfig
from edgegeo.weights_io import save_weights

SIZE = (64, 96)
CHECK_SIZE = (96, 128)         # not the export size: the graph is dynamic in H and W
TRT_UNSUPPORTED = {"Inverse", "NonZero", "Loop", "If", "Scan", "GridSample"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_network() -> CostVolumeStereo:
    torch.manual_seed(0)
    return CostVolumeStereo(StereoConfig.named("tiny")).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo_export")
    network = tiny_network()
    results = {precision: export_model("stereo", precision, folder, network=network,
                                       size=SIZE, calib="synthetic:2",
                                       parity_sources=("motorcycle", "random:1"))
               for precision in ("fp32", "fp16", "int8")}
    results["decomposed"] = export_model("stereo", "fp32", folder / "plain", network=network,
                                         plugins=False, size=SIZE, calib="synthetic:2",
                                         parity_sources=("random:1",))
    return network, results


def test_graph_contract_and_dynamic_size(exported):
    network, results = exported
    model = onnx.load(str(results["fp32"].onnx_path))
    opsets = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
    assert opsets == {"ai.onnx": 17, "edgegeo": 1}
    assert [n.op_type for n in model.graph.node if n.domain == "edgegeo"] == ["AdaptiveConv"]
    plain = onnx.load(str(results["decomposed"].onnx_path))
    onnx.checker.check_model(plain, full_check=True)
    assert {(o.domain or "ai.onnx"): o.version for o in plain.opset_import} == {"ai.onnx": 17}
    assert results["decomposed"].report["parity_passed"]
    ops = {node.op_type for node in plain.graph.node}
    assert not ops & TRT_UNSUPPORTED
    assert "Gather" in ops and "GatherElements" not in ops   # local volumes: row gathers
    report = results["decomposed"].report
    assert report["onnx"]["inputs"] == [
        {"name": name, "dtype": "float", "shape": [1, 3, "height", "width"]}
        for name in ("left", "right")]
    (output,) = report["onnx"]["outputs"]
    assert output["name"] == "disparity_confidence" and output["shape"][2:] == ["height", "width"]
    assert report["attributes"] == {"max_disparity": 32}
    generator = torch.Generator().manual_seed(0)
    left = torch.rand(1, 3, *CHECK_SIZE, generator=generator)
    right = torch.roll(left, -3, dims=3)
    with torch.no_grad():
        expected = network(left, right).numpy()
    got = OrtRunner(results["fp32"].onnx_path, threads=1, providers="cpu").run(
        {"left": left.numpy(), "right": right.numpy()})[0]
    assert got.shape == (1, 2, *CHECK_SIZE)
    assert relative_error(got, expected) <= 1e-4


def test_parity_on_the_real_pair(exported):
    _, results = exported
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        report = json.loads(results[precision].report_path.read_text())
        assert report["parity_passed"]
        real = {row["input"]: row for row in report["parity"]}["real: Middlebury Motorcycle"]
        assert real["size"] == list(SIZE) and real["tolerance"] == tolerance
        assert 0 < real["rel_error"] <= tolerance


def test_fp16_keeps_fragile_ops_in_fp32(exported):
    _, results = exported
    model = onnx.load(str(results["fp16"].onnx_path))
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    by_type = {}
    for node in model.graph.node:
        by_type.setdefault(node.op_type, []).append(types.get(node.output[0]))
    assert set(by_type["Softmax"]) == {onnx.TensorProto.FLOAT}
    # sampling positions (column − disparity, then Floor) lose sub-pixel steps in fp16
    assert set(by_type["Floor"]) == {onnx.TensorProto.FLOAT}
    assert onnx.TensorProto.FLOAT16 not in set(by_type["Gather"])
    assert onnx.TensorProto.FLOAT16 in set(by_type["Conv"])


def test_int8_quantizes_convs_and_is_judged_on_epe(exported):
    _, results = exported
    result = results["int8"]
    summary = quantization_summary(onnx.load(str(result.onnx_path)))
    assert summary["symmetric"] and summary["per_channel_weights"] >= 20
    metric = result.report["task_metric"]
    assert metric["metric"] == "epe" and np.isfinite(metric["relative_loss"])
    assert metric["per_input"][0]["input"] == "real: Middlebury Motorcycle"
    assert set(metric["per_input"][0]["torch"]) == {"epe", "bad2"}


def test_load_on_onnxruntime_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    model = tiny_network()
    weights = save_weights(model, "stereo", {
        "recipe": "stereo", "command": "pytest", "data": "none", "seed": 0, "wall_time_s": 0.0,
        "metrics": {}, "model_config": model.config.to_dict(), "predictor_options": {}},
        tmp_path)
    rng = np.random.default_rng(2)
    left = rng.integers(0, 256, (40, 100, 3), dtype=np.uint8)      # padded to 64×128 inside
    right = np.roll(left, -3, axis=1)
    reference = edgegeo.load("stereo", weights=weights, check_rectification=False)
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        exported = edgegeo.load("stereo", weights=weights, backend="onnxruntime",
                                precision=precision, check_rectification=False)
        expected, got = reference(left, right), exported(left, right)
        assert got.shape == (40, 100) and got.dtype == np.float32
        assert relative_error(got, expected) <= tolerance
    assert len(list((tmp_path / "cache").rglob("stereo.*.onnx"))) == 2
