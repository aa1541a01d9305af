"""Class 1 of issue 14: dims stored as -1 or 0 (Paddle, old converters) are dynamic, not sizes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgekit
from edgekit import onnxio


def _conv_graph(batch_dim: int) -> onnx.ModelProto:
    """x[batch_dim,3,?,?] -> Conv -> Relu, opset 12, the batch stored as dim_value."""
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], rng.standard_normal(108).astype(np.float32))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch_dim, 4, "h", "w"])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "paddle_like", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("batch_dim", [-1, 0])
def test_nonpositive_dim_is_dynamic_in_signature(batch_dim: int) -> None:
    inputs, outputs = onnxio.graph_signature(_conv_graph(batch_dim))
    assert isinstance(inputs[0].shape[0], str)
    assert isinstance(outputs[0].shape[0], str)


@pytest.mark.parametrize("batch_dim", [-1, 0])
def test_nonpositive_batch_compiles_with_real_eval_data(tmp_path, batch_dim: int) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(_conv_graph(batch_dim), str(path))
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "eval.npz", x=rng.standard_normal((3, 1, 3, 12, 20)).astype(np.float32))
    art = edgekit.compile(str(path), eval_data=tmp_path / "eval.npz", out=tmp_path / "m.edgekit")
    assert art.passed, art.parity.summary()
    sig = art.manifest["signature"]["inputs"][0]
    assert isinstance(sig["shape"][0], str)
    portable = onnx.load(str(tmp_path / "m.edgekit" / "model.onnx"))
    dim = portable.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param and not dim.HasField("dim_value")
    rt = edgekit.load(tmp_path / "m.edgekit")
    out = rt.run({"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)})
    assert out["y"].shape == (2, 4, 8, 8)
