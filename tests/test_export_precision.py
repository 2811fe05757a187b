"""Export precision: nodes kept in float32 in an fp16 graph read float32 tensors — no fp16
round trip on the way (the converter casts every float graph input to fp16 first); parity of
outputs where 0 means "no value" compares the values and bounds the flips."""
import numpy as np
import onnx
import pytest
import onnxruntime as ort
from onnx import TensorProto, helper

from edgegeo.export.fp16 import convert_fp16


def test_kept_nodes_read_graph_inputs_at_full_precision():
    # y = (x · 1.0001) kept in fp32; z = Relu(x) free to run in fp16.
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"], name="geometry/Mul"),
         helper.make_node("Relu", ["x"], ["z"], name="net/Relu")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [1.0001])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    converted = convert_fp16(model, (), ("geometry/Mul",))
    x = np.array([230.94, 127.53, 1e-4, 3000.3], np.float32)
    y, z = ort.InferenceSession(converted.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, x * np.float32(1.0001), rtol=1e-6)     # fp16 would be 2e-4
    np.testing.assert_allclose(z, x, rtol=1e-3)
    relu = next(n for n in converted.graph.node if n.name == "net/Relu")
    assert "x" not in relu.input                          # it reads the fp16 cast of x
    casts = [n for n in converted.graph.node if n.op_type == "Cast"]
    assert all(any(n.output[0] in m.input for m in converted.graph.node) or
               n.output[0] in {o.name for o in converted.graph.output} for n in casts)


def test_parity_of_masked_outputs_compares_values_and_bounds_mask_flips():
    from edgegeo.export.parity import parity_error

    expected = np.array([[2.0, 3.0, 0.0, 4.0]])
    got = np.array([[2.0, 3.03, 0.0, 0.0]])            # one pixel lost its value
    rel, disagreement = parity_error(got, expected, zero_is_no_value=True)
    assert rel == pytest.approx(0.03 / 3.0) and disagreement == pytest.approx(0.25)
    rel, disagreement = parity_error(got, expected)       # plain: the flip is the error
    assert rel == pytest.approx(1.0) and disagreement == 0.0


def test_task_metrics_of_masked_outputs_are_over_the_pixels_both_keep():
    from types import SimpleNamespace

    from edgegeo.export.mvs_spec import mvs_metric
    from edgegeo.export.parity import paired_metrics

    gt = np.full((4, 4), 2.0, np.float32)
    expected = np.full((4, 4), 2.2, np.float32)            # 10 % off everywhere
    expected[0] = 3.0                                      # 50 % off on the top row
    got = expected.copy()
    got[0] = 0.0                                           # int8 leaves the top row out
    spec = SimpleNamespace(metric=mvs_metric, zero_is_no_value=True)
    reference, measured = paired_metrics(spec, expected, got, gt)
    assert reference["abs_rel"] == pytest.approx(0.1) and measured["abs_rel"] == pytest.approx(0.1)
    plain = SimpleNamespace(metric=mvs_metric, zero_is_no_value=False)
    reference, measured = paired_metrics(plain, expected, got, gt)
    assert reference["abs_rel"] == pytest.approx(0.2) and measured["abs_rel"] == pytest.approx(0.1)
