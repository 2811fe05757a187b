"""The MVS depth network (image encoder + cost-volume U-Net + depth heads) exports to ONNX
(opset 17, legacy TorchScript exporter, dynamic H/W, batch 1) and ONNX Runtime matches torch.

The cost volume itself (plane sweep + metadata MLP) is computed outside this graph: the plane
sweep inverts K (``torch.linalg.inv``), which opset 17 has no operator for.
"""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegeo.models.mvs import MVSNet, MVSNetConfig

OPSET = 17
EXPORT_SIZE = (64, 96)
CHECK_SIZES = [(96, 64), (64, 160)]           # neither is the export size
OUTPUTS = ["depth", "depth_2", "depth_4", "depth_8"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_onnx_runtime_matches_torch(tmp_path, name):
    torch.manual_seed(0)
    config = MVSNetConfig.named(name)
    network = MVSNet(config).network.eval()
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
