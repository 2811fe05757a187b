"""The MVS depth network (image encoder + cost-volume U-Net + depth heads) exports to ONNX
(opset 17, legacy TorchScript exporter, dynamic H/W, batch 1) and ONNX Runtime matches torch.

The whole network, cost volume included, exports at a fixed size (``tests/test_export_mvs.py``):
the sweep's size checks let traced sizes through
(:func:`test_size_checks_let_traced_sizes_through`), the pose-distance source order is a
comparison sort that exports (:func:`test_stable_argsort_matches_torch`), and ``K⁻¹`` is closed
form (:func:`edgegeo.geometry.warp.invert_K`), so no graph here holds an ONNX ``Inverse`` node,
which TensorRT cannot run; :func:`test_pixel_rays_export_without_inverse` checks the rays the
sweep starts from.
"""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegeo.geometry import make_K, pixel_rays, plane_sweep_grid
from edgegeo.models.mvs import MVSNet, MVSNetConfig
from edgegeo.models.mvs.metadata import stable_argsort

OPSET = 17
EXPORT_SIZE = (64, 96)
CHECK_SIZES = [(96, 64), (64, 160)]           # neither is the export size
OUTPUTS = ["depth", "depth_2", "depth_4", "depth_8"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def op_types(graph: onnx.ModelProto) -> set[str]:
    """Operator types of every node, subgraphs (If/Loop bodies) included."""
    types = set()
    for node in graph.graph.node:
        types.add(node.op_type)
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                types |= op_types(onnx.helper.make_model(attribute.g))
    return types


class DepthMaps(torch.nn.Module):
    """The depth network with the four depth maps (metres) as outputs."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor, cost_volume: torch.Tensor):
        return tuple(torch.exp(x) for x in self.network(image, cost_volume)["log_depth"])


def export(network: torch.nn.Module, num_planes: int, path) -> None:
    height, width = EXPORT_SIZE
    dynamic = {"image": {2: "height", 3: "width"},
               "cost_volume": {2: "height_4", 3: "width_4"}}
    for name, scale in zip(OUTPUTS, (1, 2, 4, 8)):
        dynamic[name] = {2: f"height_{scale}" if scale > 1 else "height",
                         3: f"width_{scale}" if scale > 1 else "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(network, (torch.rand(1, 3, height, width),
                                    torch.randn(1, num_planes, height // 4, width // 4)),
                          str(path), dynamo=False, opset_version=OPSET,
                          input_names=["image", "cost_volume"], output_names=OUTPUTS,
                          dynamic_axes=dynamic)


@pytest.mark.parametrize("name", ["tiny", "small", "matching"])
def test_onnx_runtime_matches_torch(tmp_path, name):
    torch.manual_seed(0)
    config = MVSNetConfig.named(name)
    network = DepthMaps(MVSNet(config).network).eval()
    # The planes decoder's heads start at zero: give them weights so their paths are checked.
    for parameter in getattr(network.network.decoder, "refine_heads", torch.nn.Module()).parameters():
        torch.nn.init.normal_(parameter, std=0.05)
    # Non-trivial BatchNorm statistics, so the exported inference-mode BN is exercised.
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path / f"mvs-{name}.onnx"
    export(network, config.num_planes, path)

    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert {(o.domain or "ai.onnx", o.version) for o in graph.opset_import} == {("ai.onnx", OPSET)}
    assert all(node.domain in ("", "ai.onnx") for node in graph.graph.node)
    assert "Inverse" not in op_types(graph)
    dims = {i.name: i.type.tensor_type.shape.dim for i in graph.graph.input}
    assert [d.dim_param for d in dims["image"][2:]] == ["height", "width"]
    assert [d.dim_value for d in dims["cost_volume"][:2]] == [1, config.num_planes]
    assert [o.name for o in graph.graph.output] == OUTPUTS

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for height, width in CHECK_SIZES:
        generator = torch.Generator().manual_seed(height)
        image = torch.rand(1, 3, height, width, generator=generator)
        volume = torch.randn(1, config.num_planes, height // 4, width // 4, generator=generator)
        with torch.no_grad():
            expected = [d.numpy() for d in network(image, volume)]
        got = session.run(None, {"image": image.numpy(), "cost_volume": volume.numpy()})
        for scale, want, have in zip((1, 2, 4, 8), expected, got):
            assert have.shape == (1, 1, height // scale, width // scale)
            error = np.abs(have - want).max()
            assert error <= 1e-4 * np.abs(want).max()
            # The map's variation, not only its level, is reproduced.
            assert want.max() - want.min() > 1e-3 and error <= 1e-3 * (want.max() - want.min())
            assert (have >= config.min_depth * 0.999).all()
            assert (have <= config.max_depth * 1.001).all()


class _Rays(torch.nn.Module):
    """``K (B, 3, 3) → pixel_rays(K, H, W) (B, 3, H·W)`` for a fixed feature-grid size."""

    def __init__(self, height: int, width: int):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, K: torch.Tensor) -> torch.Tensor:
        return pixel_rays(K, self.height, self.width)


def test_pixel_rays_export_without_inverse(tmp_path):
    height, width = 16, 24                        # the 1/4 feature grid of a 64x96 image
    path = tmp_path / "rays.onnx"
    K = torch.as_tensor(make_K(15.0, 16.0, 11.5, 7.5), dtype=torch.float32)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_Rays(height, width), (K,), str(path), dynamo=False,
                          opset_version=OPSET, input_names=["K"], output_names=["rays"],
                          dynamic_axes={"K": {0: "batch"}, "rays": {0: "batch"}})
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert "Inverse" not in op_types(graph)
    # Intrinsics other than the traced example (skew included): K is a real graph input.
    K_check = np.stack([make_K(14.0, 17.0, 12.0, 6.5), make_K(30.0, 29.0, 10.2, 8.1)])
    K_check = torch.as_tensor(K_check, dtype=torch.float32)
    K_check[1, 0, 1] = 0.7
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"K": K_check.numpy()})[0]
    expected = torch.linalg.inv(K_check.double()) @ torch.stack(
        [torch.arange(width).repeat(height), torch.arange(height).repeat_interleave(width),
         torch.ones(height * width)]).double()
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_stable_argsort_matches_torch():
    generator = torch.Generator().manual_seed(0)
    for sources in (1, 2, 7, 9):
        values = torch.randint(0, 4, (64, sources), generator=generator).float()
        values[values == 3] = float("inf")          # ties, and invalid (padding) sources
        assert torch.equal(stable_argsort(values), torch.argsort(values, dim=1, stable=True))


class _Sweep(torch.nn.Module):
    """``(features (1, C, h, w), K (1, 3, 3))`` → the plane-sweep grid of a fixed pose, sizes
    read from the features (traced sizes)."""

    def forward(self, features: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        pose = torch.eye(4).unsqueeze(0)
        pose[0, 0, 3] = 0.1
        depths = torch.tensor([0.5, 1.0, 2.0])
        return plane_sweep_grid(K, K, pose, depths, features.shape[2], features.shape[3])[0]


def test_size_checks_let_traced_sizes_through(tmp_path):
    K = torch.as_tensor(make_K(15.0, 15.0, 11.5, 7.5), dtype=torch.float32)[None]
    with pytest.raises(ValueError, match="H must be an integer"):
        pixel_rays(K, torch.tensor(16), 24)                # checked outside tracing
    with pytest.raises(ValueError, match="W must be an integer"):
        plane_sweep_grid(K, K, torch.eye(4)[None], torch.ones(2), 16, 0)
    features = torch.rand(1, 4, 16, 24)
    path = tmp_path / "sweep.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_Sweep(), (features, K), str(path), dynamo=False, opset_version=OPSET,
                          input_names=["features", "K"], output_names=["grid"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {"features": features.numpy(), "K": K.numpy()}     # static shapes: K only
    got = session.run(None, {i.name: inputs[i.name] for i in session.get_inputs()})[0]
    with torch.no_grad():
        expected = _Sweep()(features, K).numpy()
    assert got.shape == (1, 3, 16, 24, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
