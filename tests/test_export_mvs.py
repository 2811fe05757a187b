"""Export of the whole mvs network (matching encoder, plane sweep, metadata cost volume, U-Net)
to ONNX fp32 / fp16 / int8 at a fixed size (tiny network, 64×96): graph contract (inputs,
TensorRT-friendly ops), parity with torch on held-out synthetic walk-throughs, fp16 geometry
in fp32, int8 on the CNNs only, and the runtime network behind ``MVSPredictor`` via
``edgegeo.load``.

Relative error everywhere: max|onnx − torch| / max|torch|.
"""
import numpy as np
import onnx
import pytest
import torch

import edgegeo
from edgegeo.cli import main
from edgegeo.export import export_model, runtime_network
from edgegeo.export.benchmark import torch_fp16_emulation
from edgegeo.export.calibration import heldout_frames
from edgegeo.export.mvs_spec import geometry_nodes
from edgegeo.export.onnx_export import export_attributes
from edgegeo.export.parity import relative_error, torch_output
from edgegeo.export.specs import get_spec
from edgegeo.export.tensorrt_engine import profile_for_resolution, profile_shapes
from edgegeo.models.mvs import MVSNet, MVSNetConfig
from edgegeo.weights_io import save_weights

SIZE = (64, 96)
# Ops a TensorRT >= 8.6 ONNX parser cannot run (or that mean data-dependent control flow).
TRT_UNSUPPORTED = {"Inverse", "NonZero", "Loop", "If", "Scan", "Unique", "TopK"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_network(cost_volume: str = "metadata", **changes) -> MVSNet:
    torch.manual_seed(0)
    network = MVSNet(MVSNetConfig.tiny(image_size=SIZE, cost_volume=cost_volume,
                                       **changes)).eval()
    # Non-trivial BatchNorm statistics, so the exported inference-mode BN is exercised.
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    return network


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mvs_export")
    network = tiny_network()
    results = {precision: export_model("mvs", precision, folder, network=network,
                                       calib="synthetic:2",
                                       parity_sources=("synthetic:1", "random:1"))
               for precision in ("fp32", "fp16", "int8")}
    return network, results


def test_graph_contract(exported):
    network, results = exported
    assert not network.training                # tracing left the caller's network in eval
    model = onnx.load(str(results["fp32"].onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert {(o.domain or "ai.onnx"): o.version for o in model.opset_import} == {"ai.onnx": 17}
    ops = {node.op_type for node in model.graph.node}
    # The plane sweep samples with row gathers (ORT's GridSample is slow on CPU).
    assert "Gather" in ops and "GridSample" not in ops and not ops & TRT_UNSUPPORTED
    shapes = {entry["name"]: entry["shape"] for entry in results["fp32"].report["onnx"]["inputs"]}
    assert shapes == {"image": [1, 3, 64, 96], "src_images": [1, 2, 3, 64, 96], "K": [1, 3, 3],
                      "src_K": [1, 2, 3, 3], "src_T_ref": [1, 2, 4, 4], "source_valid": [1, 2]}
    assert results["fp32"].report["onnx"]["outputs"] == [
        {"name": "depth", "dtype": "float", "shape": [1, 1, 64, 96]}]
    attributes = results["fp32"].report["attributes"]
    assert attributes["input_size"] == list(SIZE) and attributes["num_sources"] == 2


def test_parity_contract(exported):
    _, results = exported
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        report = results[precision].report
        assert report["parity_passed"]
        labels = [row["input"] for row in report["parity"]]
        assert labels == ["synthetic: held-out frame 0", "random: seed 0"]
        assert all(row["rel_error"] <= tolerance for row in report["parity"])
    metric = results["int8"].report["task_metric"]
    assert metric["metric"] == "abs_rel" and np.isfinite(metric["relative_loss"])
    # mvs calibrates on the 99.99th percentile unless told otherwise (min-max ranges cost it
    # accuracy).
    assert results["int8"].report["int8"]["calibration"]["method"] == "percentile"
    assert set(metric["per_input"][0]["torch"]) == {"abs_rel", "rmse"}


@pytest.mark.parametrize("cost_volume", ["dot", "cosine"])
def test_parameter_free_cost_volumes_export_with_parity(tmp_path, cost_volume):
    result = export_model("mvs", "fp32", tmp_path, network=tiny_network(cost_volume),
                          parity_sources=("synthetic:1", "random:1"))
    assert result.report["parity_passed"]
    assert all(row["rel_error"] <= 1e-4 for row in result.report["parity"])


@pytest.mark.parametrize("stage, channels", [("local_refine", {"fine_channels": 4}),
                                              ("full_refine", {"fine_channels": 4,
                                                               "full_channels": 4})])
def test_the_local_volumes_export_with_parity_and_fp32_geometry(tmp_path, stage, channels):
    """The ½- and full-resolution local volumes (per-pixel depth hypotheses) export with the
    plane sweep's row gathers; in fp16 their projections stay fp32 and their CNNs run in
    fp16."""
    network = tiny_network("correlation", decoder="planes", **channels)
    with torch.no_grad():                                  # a stage that has learned something
        getattr(network, stage).net[-1].weight.normal_(0, 0.3)
    results = {precision: export_model("mvs", precision, tmp_path / precision, network=network,
                                       parity_sources=("synthetic:1", "random:1"))
               for precision in ("fp32", "fp16")}
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        assert results[precision].report["parity_passed"]
        assert all(row["rel_error"] <= tolerance for row in results[precision].report["parity"])
    model = onnx.load(str(results["fp16"].onnx_path))
    names = {node.name for node in model.graph.node}
    assert any(name.startswith(f"/mvs/{stage}/") for name in names)
    kept = set(geometry_nodes(onnx.load(str(results["fp32"].onnx_path))))
    assert not any(name.startswith(f"/mvs/{stage}/net/") for name in kept)


def test_fp16_keeps_the_geometry_in_fp32(exported):
    _, results = exported
    model = onnx.load(str(results["fp16"].onnx_path))
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    by_type = {}
    for node in model.graph.node:
        by_type.setdefault(node.op_type, set()).add(types.get(node.output[0]))
    assert onnx.TensorProto.FLOAT in by_type["Gather"]            # the sampled features
    assert onnx.TensorProto.FLOAT16 not in by_type["Gather"]
    assert by_type["Conv"] == {onnx.TensorProto.FLOAT16}
    assert results["fp16"].report["fp16"]["keep_fp32_nodes"] > 50


def test_torch_fp16_emulation_keeps_the_poses_in_fp32(exported):
    """Rounding the poses to fp16 breaks their rotations, so only the layer-wise split (what
    the fp16 graph does) measures fp16 arithmetic for mvs; the other splits say why not."""
    network, _ = exported
    spec = get_spec("mvs")
    frame = heldout_frames("posed", 1, SIZE)[0]
    attributes = export_attributes(spec, network, SIZE)
    rows = torch_fp16_emulation(network, spec,
                                 [("synthetic", *spec.frame_inputs(frame, SIZE, attributes))])
    assert rows["inputs"] == "synthetic"
    assert 0 < rows["conv/linear layers in fp16, the rest fp32"] < 1e-2
    assert "not orthonormal" in rows["all ops fp16"]
    assert not any(module.weight.dtype != torch.float32 for module in network.modules()
                   if isinstance(module, torch.nn.Conv2d))     # the caller's network untouched


def test_int8_quantizes_the_cnns_not_the_geometry(exported):
    _, results = exported
    model = onnx.load(str(results["int8"].onnx_path))
    producers = {o: n for n in model.graph.node for o in n.output}

    def quantized(node):
        return any(getattr(producers.get(i), "op_type", "") == "DequantizeLinear"
                   for i in node.input)

    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs and all(quantized(n) for n in convs)
    assert not any(quantized(n) for n in model.graph.node if n.op_type == "MatMul")
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]      # the metadata MLP
    assert [quantized(n) for n in gemms] == [False, True]        # raw metadata in, hidden in
    assert not any(quantized(n) for n in model.graph.node if n.op_type == "Gather")


def test_runtime_network_refuses_other_sizes_and_pads_sources(tmp_path):
    network = tiny_network()
    net = runtime_network("mvs", network, "onnxruntime", "fp32", cache=tmp_path, threads=1,
                          providers="cpu")
    assert net.config.image_size == SIZE and net.config.num_sources == 2
    spec = get_spec("mvs")
    feeds = spec.random_inputs(SIZE, seed=3, attributes={"num_sources": 2})
    feeds["source_valid"][0, 1] = 0.0                                  # one padding source
    tensors = [torch.from_numpy(feeds[name]) for name in spec.input_names]
    got = net(*tensors[:-1], tensors[-1] > 0.5)["depth"][0].numpy()
    assert relative_error(got, torch_output(network, feeds, spec)) <= 1e-4
    with pytest.raises(ValueError, match="takes 64x96 images"):
        net(torch.rand(1, 3, 32, 64), *tensors[1:])


def test_posed_frames_and_profile():
    spec = get_spec("mvs")
    (frame,) = heldout_frames("posed", 1, SIZE)
    feeds, gt = spec.frame_inputs(frame, SIZE, {"num_sources": 3})
    assert feeds["src_images"].shape == (1, 3, 3, *SIZE) and gt.shape == SIZE
    assert np.all(feeds["source_valid"] == 1.0)
    rotations = feeds["src_T_ref"][0, :, :3, :3].astype(np.float64)
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-5)
    shapes = profile_shapes(spec, None, {"input_size": [64, 96], "num_sources": 2})
    assert shapes["src_images"] == [[1, 2, 3, 64, 96]] * 3 and shapes["K"] == [[1, 3, 3]] * 3
    assert profile_for_resolution(spec, (192, 256)) == ((192, 256),) * 3
    with pytest.raises(ValueError, match="fixed size"):
        profile_shapes(spec, ((64, 96), (128, 192), (128, 192)), {"input_size": [64, 96],
                                                                  "num_sources": 2})


def test_load_on_onnxruntime_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path / "cache"))
    model = tiny_network()
    weights = save_weights(model, "mvs", {
        "recipe": "mvs", "command": "pytest", "data": "none", "seed": 0, "wall_time_s": 0.0,
        "metrics": {}, "model_config": model.config.to_dict()}, tmp_path)
    (frame,) = heldout_frames("posed", 1, (72, 100))                   # resized to 64x96
    reference, sources = frame.reference, frame.candidates[:3]
    args = (reference.rgb, reference.K, reference.world_T_cam, [s.rgb for s in sources],
            [s.K for s in sources], [s.world_T_cam for s in sources])
    one_source = (*args[:3], *([values[0]] for values in args[3:]))
    for precision, tolerance in (("fp32", 1e-4), ("fp16", 1e-2)):
        torch_predictor = edgegeo.load("mvs", weights=weights, min_sources=1)
        onnx_predictor = edgegeo.load("mvs", weights=weights, backend="onnxruntime",
                                      precision=precision, min_sources=1)
        assert onnx_predictor.resolution == SIZE
        for call in (args, one_source):
            expected, got = torch_predictor(*call), onnx_predictor(*call)
            assert got.shape == (72, 100) and got.dtype == np.float32
            assert relative_error(got, expected) <= tolerance


def test_export_cli(tmp_path, capsys):
    code = main(["export", "mvs", "--precision", "fp32", "--config", "tiny", "--random-init",
                 "--size", "64x96", "--parity", "random:1", "--out", str(tmp_path)])
    assert code == 0
    assert "mvs.fp32.onnx" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no real posed sequence"):
        export_model("mvs", "fp32", tmp_path, network=tiny_network(),
                     parity_sources=("motorcycle",))


def test_histogram_calibration_reads_frames_in_chunks_and_restores_ort():
    """Percentile / entropy calibration folds CALIB_CHUNK frames at a time into its histograms
    (ORT would hold every frame's intermediate outputs at once) and leaves ORT as it was."""
    from onnxruntime.quantization import calibrate

    from export.int8 import _histograms_in_chunks

    class Frames(calibrate.CalibrationDataReader):
        def __init__(self, count):
            self.items = [{"x": np.full((1, 2), i, np.float32)} for i in range(count)]

        def get_next(self):
            return self.items.pop(0) if self.items else None

    chunks = []

    def stub(self, reader):                      # ORT's collect_data: reads the reader dry
        chunks.append(list(iter(reader.get_next, None)))

    original = calibrate.HistogramCalibrater.collect_data
    calibrate.HistogramCalibrater.collect_data = stub
    try:
        with _histograms_in_chunks(2):
            assert calibrate.HistogramCalibrater.collect_data is not stub
            calibrate.HistogramCalibrater.collect_data(object(), Frames(5))
        assert calibrate.HistogramCalibrater.collect_data is stub         # restored
    finally:
        calibrate.HistogramCalibrater.collect_data = original
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    assert [float(frame["x"][0, 0]) for chunk in chunks for frame in chunk] == [0, 1, 2, 3, 4]


def test_a_hinted_network_exports_with_its_hint_input(tmp_path):
    """A hinted network's graph takes ``hint_depth`` after the six inputs (an unhinted one
    does not); fp32 / int8 exports match torch, and the runtime network passes the hint on
    (zeros when none is given)."""
    network = tiny_network("correlation", decoder="planes", hint=True)
    with torch.no_grad():                                      # a hint that changes the depth
        network.network.decoder.hint_head.bias.fill_(2.0)
        network.network.hint_encoder.weight.normal_(0, 0.3)
    assert get_spec("mvs").for_network(tiny_network()).input_names[-1] == "source_valid"
    spec = get_spec("mvs").for_network(network)
    assert spec.input_names[-1] == "hint_depth"
    results = {precision: export_model("mvs", precision, tmp_path / precision, network=network,
                                       calib="synthetic:2",
                                       parity_sources=("synthetic:1", "random:1"))
               for precision in ("fp32", "int8")}
    graph = onnx.load(str(results["fp32"].onnx_path))
    assert [i.name for i in graph.graph.input][-1] == "hint_depth"
    assert all(row["rel_error"] <= 1e-4 for row in results["fp32"].report["parity"])
    assert results["int8"].report["task_metric"]["relative_loss"] <= 0.05
    net = runtime_network("mvs", network, "onnxruntime", "fp32", cache=tmp_path / "cache",
                          threads=1, providers="cpu")
    (frame,) = heldout_frames("posed", 1, SIZE)
    feeds, gt = spec.frame_inputs(frame, SIZE, export_attributes(spec, network, SIZE))
    assert feeds["hint_depth"].shape == (1, 1, *SIZE) and feeds["hint_depth"].max() <= 3.0
    tensors = [torch.from_numpy(feeds[name]) for name in spec.input_names]
    hinted = net(*tensors[:5], tensors[5] > 0.5, tensors[6])["depth"][0].numpy()
    assert relative_error(hinted, torch_output(network, feeds, spec)) <= 1e-4
    unhinted = net(*tensors[:5], tensors[5] > 0.5)["depth"][0].numpy()
    feeds["hint_depth"][:] = 0.0
    assert relative_error(unhinted, torch_output(network, feeds, spec)) <= 1e-4
    assert not np.allclose(hinted, unhinted)
