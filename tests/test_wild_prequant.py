"""Class 5 of issue 14: graphs that arrive quantized are detected, judged by int8, not quantized twice."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import edgekit
from edgekit.compiler.prequant import quantized_ops


def _float_mlp(path) -> None:
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array((rng.standard_normal((16, 32)) * 0.3).astype(np.float32), "w1")
    w2 = numpy_helper.from_array((rng.standard_normal((32, 10)) * 0.3).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("MatMul", ["r", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _prequantized(tmp_path):
    """A float MLP quantized by onnxruntime's dynamic quantizer: DynamicQuantizeLinear + MatMulInteger."""
    from onnxruntime.quantization import quantize_dynamic

    fp32, q = tmp_path / "fp32.onnx", tmp_path / "q.onnx"
    _float_mlp(fp32)
    quantize_dynamic(str(fp32), str(q))
    assert "MatMulInteger" in quantized_ops(q)
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(1).standard_normal((16, 16)).astype(np.float32))
    return q


def test_prequantized_graph_at_fp32_uses_the_int8_rule(tmp_path) -> None:
    q = _prequantized(tmp_path)
    art = edgekit.compile(str(q), eval_data=tmp_path / "eval.npz", out=tmp_path / "a.edgekit")
    assert art.passed, art.parity.summary()
    assert art.parity.rule.min_cosine is not None and art.parity.rule.atol is None
    assert any("already quantized" in n and "MatMulInteger" in n for n in art.parity.notes)
    assert art.manifest["parity"]["rule_precision"] == "int8"
    assert edgekit.load(tmp_path / "a.edgekit").selfcheck().passed


def test_prequantized_graph_at_int8_is_not_quantized_twice(tmp_path) -> None:
    q = _prequantized(tmp_path)
    art = edgekit.compile(str(q), precision="int8", eval_data=tmp_path / "eval.npz", out=tmp_path / "b.edgekit")
    assert art.passed, art.parity.summary()
    assert any("not quantized a second time" in n for n in art.parity.notes)
    assert quantized_ops(tmp_path / "b.edgekit" / "model.onnx") == quantized_ops(q)
    assert not any("control-flow" in n for n in art.parity.notes)


def test_no_node_quantized_message_names_the_real_reason(tmp_path) -> None:
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "relu.onnx"))
    art = edgekit.compile(str(tmp_path / "relu.onnx"), precision="int8-dynamic", out=tmp_path / "c.edgekit")
    note = next(n for n in art.parity.notes if "quantized no node" in n)
    assert "control-flow" not in note and "no node of the op types" in note


def test_check_layers_reads_openvino_intermediates(tmp_path) -> None:
    from edgekit.api import check_layers

    q = _prequantized(tmp_path)
    out = tmp_path / "ov.edgekit"
    art = edgekit.compile(str(q), target="intel-cpu", eval_data=tmp_path / "eval.npz", out=out)
    assert art.passed, art.parity.summary()
    result = check_layers(out, target="intel-cpu")
    assert result["candidate"].endswith(".xml")
    assert any("OpenVINO's own intermediate" in n for n in result["notes"])
    graph_nodes = {o for n in onnx.load(str(out / "model.onnx")).graph.node for o in n.output}
    named = {e["output"] for e in result["largest_growth"]}
    assert result["compared_layers"] >= 3 and named <= graph_nodes
