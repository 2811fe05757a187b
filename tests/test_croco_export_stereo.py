"""Export of stereo to ONNX fp32 / fp16 / int8 (tiny network, 32×48 tiles): graph contract,
parity with torch on the real Motorcycle pair, the int8 task metric (EPE vs GT disparity), and
the runtime network behind ``CroCoStereoPredictor`` (batches of tiles) via ``edgegeo.load``.

Relative error everywhere: max|onnx − torch| / max|torch|.
"""
import json

import numpy as np
import onnx
import pytest
import torch

import edgegeo
from edgegeo.export import export_model, runtime_network
from edgegeo.export.frames import StereoFrame
from edgegeo.export.int8 import quantization_summary
from edgegeo.export.ort_runner import OrtRunner
from edgegeo.export.parity import relative_error
from edgegeo.export.specs import get_spec
from edgegeo.models.croco_stereo import CroCoStereoNet, CroCoStereoConfig
from edgegeo.weights_io import save_weights

SIZE = (32, 48)
CHECK_SIZE = (48, 64)          # not the export size: the graph is dynamic in H and W
TRT_UNSUPPORTED = {"Inverse", "NonZero", "Loop", "If", "Scan"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_network() -> CroCoStereoNet:
    torch.manual_seed(0)
    network = CroCoStereoNet(CroCoStereoConfig.tiny()).eval()
    with torch.no_grad():        # a random head is nearly constant: give the map some range
        network.head.head_out.weight.mul_(20.0)
    return network


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stereo_export")
    network = tiny_network()
    results = {precision: export_model("croco-stereo", precision, folder, network=network,
                                       size=SIZE, calib="synthetic:2",
                                       parity_sources=("motorcycle", "random:1"))
               for precision in ("fp32", "fp16", "int8")}
    return network, results


def check_pair(seed=0):
    generator = torch.Generator().manual_seed(seed)
    left = torch.rand(1, 3, *CHECK_SIZE, generator=generator)
    return left, torch.roll(left, -3, dims=3)


def test_graph_contract_and_dynamic_size(exported):
    network, results = exported
    model = onnx.load(str(results["fp32"].onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert {(o.domain or "ai.onnx"): o.version for o in model.opset_import} == {"ai.onnx": 17}
    assert not {node.op_type for node in model.graph.node} & TRT_UNSUPPORTED
    report = results["fp32"].report
    assert report["onnx"]["inputs"] == [
        {"name": name, "dtype": "float", "shape": [1, 3, "height", "width"]}
        for name in ("left", "right")]
    assert report["onnx"]["outputs"] == [{"name": "disparity_confidence", "dtype": "float",
                                          "shape": [1, 2, "height", "width"]}]
    assert report["attributes"] == {"patch_size": 8}
    left, right = check_pair()
    with torch.no_grad():
        expected = network(left, right).numpy()
    got = OrtRunner(results["fp32"].onnx_path, threads=1, providers="cpu").run(
        {"left": left.numpy(), "right": right.numpy()})[0]
    assert got.shape == (1, 2, *CHECK_SIZE)
    assert relative_error(got, expected) <= 1e-4


def test_parity_contract_on_the_real_pair(exported):
    _, results = exported
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        report = json.loads(results[precision].report_path.read_text())
        assert report["parity_passed"]
        rows = {row["input"]: row for row in report["parity"]}
        real = rows["real: Middlebury Motorcycle"]
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
    for op in ("LayerNormalization", "Softmax", "Softplus"):
        assert by_type[op] and set(by_type[op]) == {onnx.TensorProto.FLOAT}, op
    assert set(by_type["Conv"]) == {onnx.TensorProto.FLOAT16}


def test_int8_is_qdq_without_attention_and_judged_on_epe(exported):
    _, results = exported
    result = results["int8"]
    model = onnx.load(str(result.onnx_path))
    summary = quantization_summary(model)
    assert summary["symmetric"] and summary["per_channel_weights"] >= 10
    producers = {o: n for n in model.graph.node for o in n.output}
    attention = [n for n in model.graph.node if n.op_type == "MatMul"
                 and ("attn/MatMul" in n.name)]
    assert attention
    for node in attention:                     # q·kᵀ and softmax·v stay float
        assert not any(getattr(producers.get(i), "op_type", "") == "DequantizeLinear"
                       for i in node.input)
    metric = result.report["task_metric"]
    assert metric["metric"] == "epe" and np.isfinite(metric["relative_loss"])
    assert metric["per_input"][0]["input"] == "real: Middlebury Motorcycle"
    assert set(metric["per_input"][0]["torch"]) == {"epe", "bad2"}
    assert result.report["int8"]["calibration"]["frames"] == 2


def test_stereo_frame_inputs_rescale_disparity():
    spec = get_spec("croco-stereo")
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    disparity = np.full((64, 96), 12.0, np.float32)
    disparity[:, :8] = 0.0                     # no ground truth there
    feeds, gt = spec.frame_inputs(StereoFrame(left, left, disparity), SIZE, {})
    assert feeds["left"].shape == feeds["right"].shape == (1, 3, *SIZE)
    assert feeds["left"].dtype == np.float32 and 0 <= feeds["left"].min() <= 1
    assert gt.shape == SIZE and set(np.unique(gt)) == {0.0, 6.0}    # width halved


def test_runtime_network_runs_batches_of_tiles(tmp_path):
    network = tiny_network()
    net = runtime_network("croco-stereo", network, "onnxruntime", "fp32", cache=tmp_path,
                          input_example=SIZE, threads=1, providers="cpu")
    lefts = torch.rand(3, 3, *SIZE, generator=torch.Generator().manual_seed(1))
    rights = torch.roll(lefts, -2, dims=3)
    with torch.no_grad():
        expected = network(lefts, rights).numpy()
    got = net(lefts, rights)
    assert got.shape == (3, 2, *SIZE)
    assert relative_error(got.numpy(), expected) <= 1e-4
    with pytest.raises(ValueError, match="one batch size"):
        net(lefts, rights[:2])


def test_load_on_onnxruntime_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    model = tiny_network()
    weights = save_weights(model, "croco-stereo", {
        "recipe": "croco-stereo", "command": "pytest", "data": "none", "seed": 0, "wall_time_s": 0.0,
        "metrics": {}, "model_config": model.config.to_dict(),
        "predictor_options": {"tile_size": list(SIZE), "trained_max_disparity": 48.0}}, tmp_path)
    rng = np.random.default_rng(2)
    left = rng.integers(0, 256, (40, 100, 3), dtype=np.uint8)      # several tiles, one batch
    right = np.roll(left, -3, axis=1)
    reference = edgegeo.load("croco-stereo", weights=weights, check_rectification=False)
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        exported = edgegeo.load("croco-stereo", weights=weights, backend="onnxruntime",
                                precision=precision, check_rectification=False)
        expected, got = reference(left, right), exported(left, right)
        assert got.shape == (40, 100) and got.dtype == np.float32
        assert relative_error(got, expected) <= tolerance
    assert len(list((tmp_path / "cache").rglob("croco-stereo.*.onnx"))) == 2
