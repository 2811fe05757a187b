"""The JBU exports to ONNX: ``adaptive_conv`` as standard ops (default) matches torch in ONNX
Runtime with dynamic H/W, or as one ``edgegeo::AdaptiveConv`` node per stage (plugin mode)."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgegeo.models.jbu import DepthJBU, JBUConfig, JBUStack
from edgegeo.ops.exportable import onnx_adaptive_conv_mode

OPSET = 17


def _export(model, args, path, input_names, dynamic_axes, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")    # tracer warnings for shape checks, legacy exporter
        torch.onnx.export(model, args, str(path), dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=["out"],
                          dynamic_axes=dynamic_axes, **options)


def _stack():
    torch.manual_seed(0)
    stack = JBUStack(2, key_dim=8, correction_hidden=8).eval()
    with torch.no_grad():   # a non-trivial correction and range term
        for stage in stack.stages:
            stage.correction[-1].weight.normal_(0, 0.05)
            stage.log_temperature.fill_(0.7)
    return stack


STACK_AXES = {"source": {2: "h", 3: "w"}, "image": {2: "H", 3: "W"}, "out": {2: "H", 3: "W"}}


def test_two_stage_stack_matches_onnx_runtime_with_dynamic_sizes(tmp_path):
    stack = _stack()
    path = tmp_path / "jbu_stack.onnx"
    _export(stack, (torch.rand(1, 6, 8, 10), torch.rand(1, 3, 32, 40)), path,
            ["source", "image"], STACK_AXES)
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph, full_check=True)
    assert all(node.domain in ("", "ai.onnx") for node in graph.graph.node)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(1)
    for low in [(7, 13), (12, 5)]:                 # neither is the export size
        source = torch.randn(1, 6, *low, generator=generator)
        image = torch.rand(1, 3, low[0] * 4, low[1] * 4, generator=generator)
        with torch.no_grad():
            expected = stack(source, image).numpy()
        (got,) = session.run(None, {"source": source.numpy(), "image": image.numpy()})
        assert got.shape == expected.shape == (1, 6, low[0] * 4, low[1] * 4)
        assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_depth_model_matches_onnx_runtime(tmp_path):
    torch.manual_seed(0)
    model = DepthJBU(JBUConfig.named("tiny")).eval()
    path = tmp_path / "jbu.onnx"
    axes = {"depth": {2: "h", 3: "w"}, "image": {2: "H", 3: "W"}, "out": {2: "H", 3: "W"}}
    _export(model, (torch.rand(1, 1, 8, 8) + 1, torch.rand(1, 3, 32, 32)), path,
            ["depth", "image"], axes)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(2)
    depth = 1 + 3 * torch.rand(1, 1, 9, 11, generator=generator)
    depth[..., 2:4, 3:6] = 0
    image = torch.rand(1, 3, 36, 44, generator=generator)
    with torch.no_grad():
        expected = model(depth, image).numpy()
    (got,) = session.run(None, {"depth": depth.numpy(), "image": image.numpy()})
    assert got.shape == (1, 1, 36, 44)
    np.testing.assert_array_equal(got == 0, expected == 0)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_plugin_mode_emits_one_custom_node_per_stage(tmp_path):
    stack = _stack()
    path = tmp_path / "jbu_plugin.onnx"
    with onnx_adaptive_conv_mode("plugin"):
        _export(stack, (torch.rand(1, 6, 8, 10), torch.rand(1, 3, 32, 40)), path,
                ["source", "image"], STACK_AXES, custom_opsets={"edgegeo": 1})
    graph = onnx.load(str(path))
    custom = [n for n in graph.graph.node if n.domain == "edgegeo"]
    assert [n.op_type for n in custom] == ["AdaptiveConv", "AdaptiveConv"]
    assert [a.i for n in custom for a in n.attribute if a.name == "radius"] == [3, 3]
    assert ("edgegeo", 1) in {(o.domain, o.version) for o in graph.opset_import}
    with pytest.raises(ValueError, match="must be one of"):
        with onnx_adaptive_conv_mode("tensorrt"):
            pass
