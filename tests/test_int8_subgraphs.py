"""Compute inside If branches is quantized (issue 15, class 6), and what stays float is said per body."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import edgekit


def _if_model(path) -> None:
    """y = If(mean(x) > 0, relu(x @ W1 + b), x @ W2): a MatMul in both branches; W2 lives in the outer scope."""
    rng = np.random.default_rng(0)
    w1, w2 = (rng.normal(size=(32, 16)).astype(np.float32) / 4 for _ in range(2))
    b = rng.normal(size=(16,)).astype(np.float32)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])
    then = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["t1"], name="then_matmul"),
         helper.make_node("Add", ["t1", "b"], ["t2"], name="then_add"),
         helper.make_node("Relu", ["t2"], ["t_out"], name="then_relu")],
        "then", [], [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, ["n", 16])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b, "b")])
    other = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w2"], ["e_out"], name="else_matmul")],
        "else", [], [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, ["n", 16])])
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0, name="mean"),
         helper.make_node("Greater", ["m", "zero"], ["cond"], name="flag"),
         helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other, name="branch")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 32])], [out],
        [numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(np.float32(0), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def _data(path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Batches of 8 alternate between positive and negative means: both branches see data.
    x = np.concatenate([rng.normal(1.0 if i % 2 else -1.0, 1.0, size=(8, 32)) for i in range(8)])
    np.savez(path, x=x.astype(np.float32))


def _weight_dq(graph: onnx.GraphProto) -> int:
    inits = {t.name: t for t in graph.initializer}
    return sum(1 for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits
               and inits[n.input[0]].data_type == TensorProto.INT8)


def test_matmul_in_both_if_branches_is_quantized(tmp_path) -> None:
    _if_model(tmp_path / "if.onnx")
    _data(tmp_path / "calib.npz", 0)
    _data(tmp_path / "eval.npz", 1)
    art = edgekit.compile(str(tmp_path / "if.onnx"), precision="int8", calibration=tmp_path / "calib.npz",
                          eval_data=tmp_path / "eval.npz", out=tmp_path / "if.edgekit", simplify=False,
                          min_top1=("0.9",), fallback=False)  # random weights: close logits
    quantized = art.manifest["quantization"]["quantized_nodes"]
    # (onnxruntime's pre-processing fuses then_matmul with its Add, keeping the name as a prefix)
    assert any(q.startswith("branch.then_branch/then_matmul") for q in quantized), quantized
    assert "branch.else_branch/else_matmul" in quantized
    model = onnx.load(str(tmp_path / "if.edgekit" / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "If")
    bodies = {a.name: a.g for a in node.attribute}
    assert _weight_dq(bodies["then_branch"]) >= 1 and _weight_dq(bodies["else_branch"]) >= 1
    assert art.passed, art.parity.summary()
    assert min(m.mean_cosine for m in art.parity.outputs) > 0.999
    assert not any("stayed float" in n for n in art.parity.notes), art.parity.notes


def test_int8_dynamic_quantizes_inside_if_branches_and_says_so(tmp_path) -> None:
    _if_model(tmp_path / "if.onnx")
    _data(tmp_path / "eval.npz", 1)
    art = edgekit.compile(str(tmp_path / "if.onnx"), precision="int8-dynamic", eval_data=tmp_path / "eval.npz",
                          out=tmp_path / "d.edgekit", simplify=False, min_top1=("0.9",), fallback=False)
    model = onnx.load(str(tmp_path / "d.edgekit" / "model.onnx"))
    node = next(n for n in model.graph.node if n.op_type == "If")
    for attr in node.attribute:
        assert "MatMulInteger" in {n.op_type for n in attr.g.node}, attr.name
    assert "branch.else_branch/else_matmul" in art.manifest["quantization"]["quantized_nodes"]
    assert not any("stayed float" in n or "quantized no node" in n for n in art.parity.notes), art.parity.notes


def test_search_never_keeps_a_recipe_that_quantizes_nothing(tmp_path) -> None:
    """The default rule misses on this random-weight model, so the recipe search runs. A quantizer
    that leaves every If branch in float (NNCF, when installed) scores zero error on a float
    graph; such a row is marked, not ranked, and the kept recipe quantizes both branches."""
    _if_model(tmp_path / "if.onnx")
    _data(tmp_path / "calib.npz", 0)
    _data(tmp_path / "eval.npz", 1)
    art = edgekit.compile(str(tmp_path / "if.onnx"), precision="int8", calibration=tmp_path / "calib.npz",
                          eval_data=tmp_path / "eval.npz", out=tmp_path / "s.edgekit", simplify=False)
    q = art.manifest["quantization"]
    assert any(n.startswith("branch.") for n in q["quantized_nodes"]), q["quantized_nodes"]
    assert q.get("recipes"), "the search did not run"
    for row in q["recipes"]:
        assert row["calib_error"] != 0.0 or row["error"], row
