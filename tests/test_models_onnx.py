"""MonoDepthNet exports to ONNX (opset 17, dynamic H/W, batch 1) and ONNX Runtime matches torch.

The TorchScript-based exporter (``dynamo=False``) is used: it needs no extra package
(the torch.export-based one needs onnxscript), exports in about a second, and its opset-17
graph (LayerNormalization, Erf-GELU, Resize, Sin/Cos for RoPE) is what TensorRT 8.6+ parses.
"""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegeo.models.mono_depth import MonoDepthNet, MonoDepthNetConfig

OPSET = 17
EXPORT_SIZE = (64, 96)
CHECK_SIZES = [(48, 112), (96, 64)]     # neither is the export size


def export(model: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():
        # Shape checks in forward() are constant for a given trace; the legacy exporter is
        # deprecated in favour of dynamo (which needs onnxscript).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.rand(1, 3, *EXPORT_SIZE),), str(path), dynamo=False,
                          opset_version=OPSET, input_names=["image"], output_names=["disparity"],
                          dynamic_axes={"image": {2: "height", 3: "width"},
                                        "disparity": {2: "height", 3: "width"}})


@pytest.mark.parametrize("name, config", [
    ("tiny-learned", MonoDepthNetConfig.tiny()),
    ("tiny-rope", MonoDepthNetConfig.sized(embed_dim=32, depth=4, num_heads=2, features=16,
                                           head_features=8, position="rope")),
    ("small", MonoDepthNetConfig.small()),
])
def test_onnx_runtime_matches_torch(tmp_path, name, config):
    torch.manual_seed(0)
    model = MonoDepthNet(config).eval()
    path = tmp_path / f"mono-depth-{name}.onnx"
    export(model, path)

    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert {(o.domain or "ai.onnx", o.version) for o in graph.opset_import} == {("ai.onnx", OPSET)}
    assert all(node.domain in ("", "ai.onnx") for node in graph.graph.node)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[:2]] == [1, 3]
    assert [d.dim_param for d in dims[2:]] == ["height", "width"]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for size in CHECK_SIZES:
        image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(size[0]))
        with torch.no_grad():
            expected = model(image).numpy()
        (got,) = session.run(None, {"image": image.numpy()})
        assert got.shape == (1, 1, *size)
        error = np.abs(got - expected).max()
        assert error <= 1e-4 * np.abs(expected).max()
        # The map's variation, not only its offset, is reproduced.
        assert error <= 1e-3 * (expected.max() - expected.min())
