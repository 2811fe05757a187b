"""CroCoStereoNet exports to ONNX (opset 17, dynamic H/W, two named inputs) with standard ops only
(RoPE as Sin/Cos, no Inverse/unsupported ops) and ONNX Runtime matches torch."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegeo.models.croco_stereo import CroCoStereoNet, CroCoStereoConfig

OPSET = 17
EXPORT_SIZE = (32, 48)
CHECK_SIZES = [(48, 80), (96, 64)]


def export(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.rand(1, 3, *EXPORT_SIZE), torch.rand(1, 3, *EXPORT_SIZE)),
                          str(path), dynamo=False, opset_version=OPSET,
                          input_names=["left", "right"], output_names=["disparity_confidence"],
                          dynamic_axes={name: {2: "height", 3: "width"}
                                        for name in ("left", "right", "disparity_confidence")})


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_stereo_onnx_matches_torch_at_other_sizes(tmp_path, name):
    torch.manual_seed(0)
    model = CroCoStereoNet(CroCoStereoConfig.named(name)).eval()
    path = tmp_path / f"stereo-{name}.onnx"
    export(model, path)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    ops = {node.op_type for node in graph.graph.node}
    assert all(node.domain in ("", "ai.onnx") for node in graph.graph.node)
    assert not ops & {"Inverse", "Loop", "If", "NonZero"}, ops
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for size in CHECK_SIZES:
        left = rng.random((1, 3, *size), dtype=np.float32)
        right = np.roll(left, -4, axis=3)
        got = session.run(None, {"left": left, "right": right})[0]
        with torch.no_grad():
            expected = model(torch.from_numpy(left), torch.from_numpy(right)).numpy()
        assert got.shape == (1, 2, *size)
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert error < 1e-4, (size, error)
