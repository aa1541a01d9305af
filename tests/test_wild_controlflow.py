"""Class 7 of issue 14: constant-condition Ifs are inlined before precision and target stages."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgekit
from edgekit.compiler.controlflow import fold_constant_ifs


def _vi(name: str, dims=("n", 4)) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))


def _if_model() -> onnx.ModelProto:
    """x -> If(const True){ MatMul(x, w) -> nested If(Constant False){Neg}{Relu} } {Neg(x)} -> y."""
    w = numpy_helper.from_array(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4), "w")
    inner_then = helper.make_graph([helper.make_node("Neg", ["m"], ["t"])], "inner_then", [], [_vi("t")])
    inner_else = helper.make_graph([helper.make_node("Relu", ["m"], ["r"])], "inner_else", [], [_vi("r")])
    then_g = helper.make_graph([
        helper.make_node("MatMul", ["x", "w"], ["m"]),
        helper.make_node("Constant", [], ["c2"], value=helper.make_tensor("c2v", TensorProto.BOOL, [], [False])),
        helper.make_node("If", ["c2"], ["o"], then_branch=inner_then, else_branch=inner_else),
    ], "then", [], [_vi("o")])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e")])
    cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
    graph = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
                              "const_if", [_vi("x")], [_vi("y")], [w, cond])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_fold_inlines_nested_constant_ifs() -> None:
    model = _if_model()
    assert fold_constant_ifs(model) == 2
    assert not any(n.op_type == "If" for n in model.graph.node)
    onnx.checker.check_model(model)
    import onnxruntime as ort

    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    w = np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(got, np.maximum(x @ w, 0), rtol=1e-6)


@pytest.mark.parametrize("simplify", [False, True])
def test_compile_sees_the_inlined_graph(tmp_path, simplify: bool) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_if_model(), str(path))
    art = edgekit.compile(str(path), simplify=simplify, out=tmp_path / "m.edgekit")
    assert art.passed, art.parity.summary()
    portable = onnx.load(str(tmp_path / "m.edgekit" / "model.onnx"))
    assert not any(n.op_type == "If" for n in portable.graph.node)
    assert "MatMul" in {n.op_type for n in portable.graph.node}
