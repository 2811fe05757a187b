"""The jbu model and the bilateral-upsample op in exported graphs: custom node
``edgegeo::AdaptiveConv`` (ORT custom op on the Cython kernel) vs decomposed standard ops,
parity at fp32 / fp16 / int8, the runtime network behind ``JBUPredictor``, and the AOT entry
point of the TensorRT plugin (compiled for the host)."""
import ctypes
import shutil
import subprocess

import numpy as np
import onnx
import pytest
import torch

from edgegeo.data.frame import Frame
from edgegeo.data.synthetic import write_shard
from edgegeo.export import export_model, runtime_network
from edgegeo.export.custom_op import adaptive_conv_numpy, custom_nodes
from edgegeo.export.ort_runner import OrtRunner
from edgegeo.export.parity import relative_error
from edgegeo.export.specs import get_spec
from edgegeo.export.trt_plugin import KERNEL_NAME, WRAPPER_SOURCE, ops_dir
from edgegeo.models.jbu import DepthJBU, JBUConfig, JBUPredictor
from edgegeo.ops import adaptive_conv

SIZE = (32, 48)


def tiny_jbu() -> DepthJBU:
    torch.manual_seed(0)
    network = DepthJBU(JBUConfig.named("tiny")).eval()
    with torch.no_grad():        # a non-zero kernel correction, as after training
        for stage in network.stack.stages:
            stage.correction[-1].weight.normal_(0, 0.05)
    return network


def smooth_frame(rng, size):
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
    depth = 1.5 + np.sin(xx / 7.0) * 0.5 + yy / size[0]
    depth[rng.random(size) < 0.05] = 0.0
    rgb = np.clip(np.stack([depth * 80, xx * 3, yy * 4], -1), 0, 255).astype(np.uint8)
    return rgb, depth.astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("jbu_export")
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(2):
        rgb, depth = smooth_frame(rng, SIZE)
        frames.append(Frame(rgb=rgb, K=np.eye(3), depth=depth, world_T_cam=np.eye(4)))
    shard = write_shard(folder / "shard", frames)
    network = tiny_jbu()
    results = {}
    for plugins in (True, False):
        for precision in ("fp32", "fp16", "int8"):
            if not plugins and precision != "fp32":
                continue
            results[plugins, precision] = export_model(
                "jbu", precision, folder / ("plugin" if plugins else "plain"), network=network,
                plugins=plugins, size=SIZE, calib=shard, parity_sources=("random:1",))
    return network, results


def test_custom_node_and_decomposed_graphs_agree(exported):
    network, results = exported
    plugin = onnx.load(str(results[True, "fp32"].onnx_path))
    plain = onnx.load(str(results[False, "fp32"].onnx_path))
    assert len(custom_nodes(plugin)) == 2 and not custom_nodes(plain)
    assert {o.domain for o in plugin.opset_import} >= {"edgegeo"}
    assert all(n.domain in ("", "ai.onnx") for n in plain.graph.node)
    assert results[True, "fp32"].report["plugins"]["mode"] == "edgegeo::AdaptiveConv"
    assert results[False, "fp32"].report["plugins"]["mode"] == "decomposed"
    feeds = get_spec("jbu").random_inputs((48, 64), seed=5)     # not the export size
    with torch.no_grad():
        expected = network(*(torch.from_numpy(feeds[n]) for n in ("depth", "image"))).numpy()
    a = OrtRunner(results[True, "fp32"].onnx_path, providers="cpu").run(feeds)[0]
    b = OrtRunner(results[False, "fp32"].onnx_path, providers="cpu").run(feeds)[0]
    assert a.shape == (1, 1, 48, 64)
    assert relative_error(a, b) <= 1e-5
    assert relative_error(a, expected) <= 1e-4 and relative_error(b, expected) <= 1e-4


def test_fp16_and_int8_jbu_graphs_run_within_contract(exported):
    _, results = exported
    fp16 = results[True, "fp16"]
    assert fp16.report["parity_passed"]
    assert all(row["rel_error"] <= 1e-2 for row in fp16.report["parity"])
    fp16_model = onnx.load(str(fp16.onnx_path))
    # the custom node stays float32 (its kernels are float32), with casts around it
    inferred = onnx.shape_inference.infer_shapes(fp16_model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    assert all(types.get(n.input[0]) == onnx.TensorProto.FLOAT for n in custom_nodes(fp16_model))
    int8 = results[True, "int8"]
    assert custom_nodes(onnx.load(str(int8.onnx_path)))
    assert int8.report["int8"]["calibration"]["frames"] == 2
    assert int8.report["int8"]["symmetric"]


def test_jbu_runtime_network_plugs_into_predictor(tmp_path):
    network = tiny_jbu()
    rng = np.random.default_rng(1)
    rgb, depth = smooth_frame(rng, (40, 56))
    low = depth[::4, ::4].copy()
    net = runtime_network("jbu", network, "onnxruntime", "fp32", cache=tmp_path,
                          input_example=SIZE, providers="cpu")
    assert net.scale == 4 and net.num_stages == 2
    expected = JBUPredictor(network)(low, rgb)
    got = JBUPredictor(net)(low, rgb)
    assert got.shape == rgb.shape[:2]
    assert relative_error(got, expected) <= 1e-4
    with pytest.raises(ValueError, match="x8"):
        net.upsample(torch.ones(1, 1, 4, 4), torch.ones(1, 3, 32, 32), num_stages=3)


def test_custom_op_kernel_matches_the_op():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 11, 12)).astype(np.float32)
    kernels = rng.standard_normal((1, 5, 6, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(adaptive_conv_numpy(x, kernels, 3), adaptive_conv(x, kernels))
    with pytest.raises(ValueError, match="radius"):
        adaptive_conv_numpy(x, kernels, 2)


HOST_EMULATION = """
#define __global__
#define __device__
#define __forceinline__ inline
struct EmulatedDim3 { unsigned int x; };
static const EmulatedDim3 blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};
static inline int atomicOr(int* address, int value) { int old = *address; *address |= value; return old; }
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on PATH")
def test_trt_aot_entry_point_argument_order_on_host(tmp_path):
    """The plugin's AOT kernel takes (inputs, extra scalars, outputs), as TensorRT launches
    AOT kernels: compiled for the host, it must reproduce the op."""
    (tmp_path / "emulation.h").write_text(HOST_EMULATION)
    (tmp_path / "wrapper.cu").write_text(WRAPPER_SOURCE)
    library = tmp_path / "wrapper.so"
    subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-x", "c++", "-include",
                    str(tmp_path / "emulation.h"), f"-I{ops_dir()}", str(tmp_path / "wrapper.cu"),
                    "-o", str(library)], check=True)
    entry = getattr(ctypes.CDLL(str(library)), KERNEL_NAME)
    rng = np.random.default_rng(3)
    batch, channels, height, width, size = 1, 2, 9, 13, 7
    x = rng.standard_normal((batch, channels, height + size - 1, width + size - 1)
                            ).astype(np.float32)
    kernels = rng.standard_normal((batch, height, width, size, size)).astype(np.float32)
    out = np.zeros((batch, channels, height, width), np.float32)
    pointer = lambda a: a.ctypes.data_as(ctypes.c_void_p)   # noqa: E731
    entry(pointer(x), pointer(kernels), *(ctypes.c_int(v) for v in
                                          (batch, channels, height, width, size)), pointer(out))
    np.testing.assert_allclose(out, adaptive_conv(x, kernels), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_trt_plugin_ptx_compiles(tmp_path, monkeypatch):
    from edgegeo.export.trt_plugin import compile_plugin_ptx

    monkeypatch.setenv("EDGEGEO_CACHE", str(tmp_path))
    assert f".entry {KERNEL_NAME}(" in compile_plugin_ptx()
