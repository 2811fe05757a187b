"""Export of mono-depth to ONNX fp32 / fp16 / int8 (tiny network, small shapes): graph
contracts, parity with torch, reports, and the runtime network behind the torch predictor.

Relative error everywhere: max|onnx − torch| / max|torch|.
"""
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from edgegeo.export import export_model, runtime_network
from edgegeo.export.int8 import activations_to_uint8, quantization_summary
from edgegeo.export.ort_runner import OrtRunner
from edgegeo.export.parity import relative_error
from edgegeo.export.specs import get_spec
from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig, MonoDepthPredictor

SIZE = (32, 48)
CHECK_SIZE = (48, 64)          # not the export size: the graph is dynamic in H and W


def tiny_network() -> MonoDepthNet:
    torch.manual_seed(0)
    network = MonoDepthNet(MonoDepthNetConfig.tiny()).eval()
    with torch.no_grad():        # a random head is nearly constant: give the map some range
        network.decoder.head_out.weight.mul_(40.0)
    return network


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mono_export")
    calib = folder / "calib"
    calib.mkdir()
    rng = np.random.default_rng(0)
    for index in range(3):
        image = (rng.random((40, 60, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(calib / f"{index}.png"), cv2.GaussianBlur(image, (5, 5), 0))
    network = tiny_network()
    results = {precision: export_model("mono-depth", precision, folder / "out", network=network,
                                       size=SIZE, calib=calib,
                                       parity_sources=("motorcycle", "random:1"))
               for precision in ("fp32", "fp16", "int8")}
    return network, results


def check_inputs(seed=0):
    image = torch.rand(1, 3, *CHECK_SIZE, generator=torch.Generator().manual_seed(seed))
    return image


def test_fp32_graph_contract_and_parity(exported):
    network, results = exported
    result = results["fp32"]
    assert result.onnx_path.name == "mono-depth.fp32.onnx"
    assert result.report_path.name == "mono-depth.fp32.json"
    model = onnx.load(str(result.onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert {(o.domain or "ai.onnx"): o.version for o in model.opset_import} == {"ai.onnx": 17}
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["disparity"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[:2]] == [1, 3]
    assert [d.dim_param for d in dims[2:]] == ["height", "width"]
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["edgegeo.attributes"]) == {"patch_size": 16}
    assert meta["edgegeo.precision"] == "fp32"

    image = check_inputs()
    with torch.no_grad():
        expected = network(image).numpy()
    got = OrtRunner(result.onnx_path, threads=1, providers="cpu").run({"image": image.numpy()})[0]
    assert got.shape == (1, 1, *CHECK_SIZE)
    assert relative_error(got, expected) <= 1e-4
    assert np.abs(got - expected).max() <= 1e-3 * (expected.max() - expected.min())


def test_reports_describe_file_io_and_parity(exported):
    _, results = exported
    for precision, result in results.items():
        report = json.loads(result.report_path.read_text())
        assert report["model"] == "mono-depth" and report["precision"] == precision
        assert report["onnx"]["file"] == f"mono-depth.{precision}.onnx"
        assert report["onnx"]["bytes"] == result.onnx_path.stat().st_size
        assert report["onnx"]["opset"] == {"ai.onnx": 17}        # no stray domains
        assert report["onnx"]["inputs"] == [{"name": "image", "dtype": "float",
                                             "shape": [1, 3, "height", "width"]}]
        assert report["onnx"]["outputs"][0]["name"] == "disparity"
        assert report["relative_error_definition"] == "max|onnx - torch| / max|torch|"
        labels = [row["input"] for row in report["parity"]]
        assert any(label.startswith("real") for label in labels)
        assert report["parity_passed"]
    sizes = {p: r.report["onnx"]["bytes"] for p, r in results.items()}
    assert sizes["fp16"] < 0.75 * sizes["fp32"]


def test_fp16_graph_is_fp16_with_fragile_ops_in_fp32(exported):
    network, results = exported
    model = onnx.load(str(results["fp16"].onnx_path))
    assert results["fp16"].report["fp16"]["fp16_weight_fraction"] > 0.8
    # graph I/O stay float32 (engines take what the Python API takes)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert norms and convs
    assert all(types[n.output[0]] == onnx.TensorProto.FLOAT for n in norms)
    assert all(types[n.output[0]] == onnx.TensorProto.FLOAT16 for n in convs)
    image = check_inputs(1)
    with torch.no_grad():
        expected = network(image).numpy()
    got = OrtRunner(results["fp16"].onnx_path, providers="cpu").run({"image": image.numpy()})[0]
    assert relative_error(got, expected) <= 1e-2


def test_int8_graph_is_symmetric_per_channel_qdq(exported):
    _, results = exported
    result = results["int8"]
    model = onnx.load(str(result.onnx_path))
    summary = quantization_summary(model)
    assert summary["symmetric"] and summary["activation_dtype"] == ["INT8"]
    assert summary["weight_dtype"] == ["INT8"] and summary["per_channel_weights"] >= 10
    # attention's activation x activation MatMuls stay in float
    inits = {i.name for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        if node.op_type == "MatMul" and "attn/MatMul" in node.name:
            assert not any(producers.get(i) is not None
                           and producers[i].op_type == "DequantizeLinear"
                           and producers[i].input[0] in inits for i in node.input)
    metric = result.report["task_metric"]
    assert metric["metric"] == "abs_rel" and np.isfinite(metric["relative_loss"])
    assert result.report["int8"]["calibration"]["frames"] == 3


def test_uint8_activation_rewrite_is_the_same_grid(exported):
    _, results = exported
    model = onnx.load(str(results["int8"].onnx_path))
    rewritten = activations_to_uint8(model)
    inits = {i.name: i for i in rewritten.graph.initializer}
    for node in rewritten.graph.node:
        if node.op_type == "QuantizeLinear":
            zero = onnx.numpy_helper.to_array(inits[node.input[2]])
            assert zero.dtype == np.uint8 and np.all(zero == 128)
        if node.op_type == "DequantizeLinear" and node.input[0] in inits \
                and inits[node.input[0]].data_type == onnx.TensorProto.INT8:
            assert np.all(onnx.numpy_helper.to_array(inits[node.input[2]]) == 0)
    assert activations_to_uint8(onnx.load(str(results["fp32"].onnx_path))).graph.node


def test_runtime_network_plugs_into_predictor_and_is_cached(tmp_path):
    network = tiny_network()
    image = (np.random.default_rng(0).random((40, 70, 3)) * 255).astype(np.uint8)
    onnx_net = runtime_network("mono-depth", network, "onnxruntime", "fp32", cache=tmp_path,
                               input_example=SIZE, threads=1, providers="cpu")
    assert onnx_net.patch_size == 16
    expected = MonoDepthPredictor(network, resolution=32)(image)
    got = MonoDepthPredictor(onnx_net, resolution=32)(image)
    assert got.shape == image.shape[:2] and got.dtype == np.float32
    assert relative_error(got, expected) <= 1e-4
    (cached,) = tmp_path.glob("onnx/mono-depth/*/mono-depth.fp32.onnx")
    stamp = cached.stat().st_mtime_ns
    runtime_network("mono-depth", network, "onnxruntime", "fp32", cache=tmp_path,
                    input_example=SIZE, providers="cpu")
    assert cached.stat().st_mtime_ns == stamp                  # reused, not re-exported
    cached.write_bytes(cached.read_bytes()[:1000])             # truncated in the cache
    again = runtime_network("mono-depth", network, "onnxruntime", "fp32", cache=tmp_path,
                            input_example=SIZE, providers="cpu")
    assert relative_error(MonoDepthPredictor(again, resolution=32)(image), expected) <= 1e-4


def test_spec_shapes_follow_output_size():
    spec = get_spec("jbu")
    assert spec.input_shapes((64, 80)) == {"depth": (1, 1, 16, 20), "image": (1, 3, 64, 80)}
    with pytest.raises(ValueError, match="multiples of 8"):
        spec.input_shapes((60, 80))
