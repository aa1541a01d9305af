"""bfloat16 and float8 model inputs (issue 14, class 3): fed through ml_dtypes types, which
onnxruntime takes as typed OrtValues and OpenVINO as tensors of its own types."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgekit

ml_dtypes = pytest.importorskip("ml_dtypes")


def _cast_add(tmp_path, elem_type: int):
    """x (an exotic float type) -> Cast to float -> Add itself; a dynamic batch."""
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["c"], to=TensorProto.FLOAT), helper.make_node("Add", ["c", "c"], ["y"])],
        "cast_add", [helper.make_tensor_value_info("x", elem_type, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    path = tmp_path / "cast_add.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("target", ["cpu", "intel-cpu"])
def test_bfloat16_input_compiles_and_runs(tmp_path, target: str) -> None:
    if target == "intel-cpu":
        pytest.importorskip("openvino")
    art = edgekit.compile(str(_cast_add(tmp_path, TensorProto.BFLOAT16)), target=target, precision="fp32",
                          out=tmp_path / "b.edgekit")
    assert art.passed, art.parity.summary()
    assert art.manifest["signature"]["inputs"][0]["dtype"] == "bfloat16"
    x = np.array([[0.1, -2.5, 3.0], [1e3, 0.0, -7.25]], dtype=np.float32).astype(ml_dtypes.bfloat16)
    with edgekit.load(tmp_path / "b.edgekit", target=target) as runtime:
        (y,) = runtime.run({"x": x}).values()
        assert np.array_equal(y, x.astype(np.float32) * 2)  # not the bits read as another type
        assert runtime.selfcheck().passed  # golden samples keep their bfloat16 type in the npz


def test_float8_input_compiles_for_cpu(tmp_path) -> None:
    art = edgekit.compile(str(_cast_add(tmp_path, TensorProto.FLOAT8E4M3FN)), target="cpu", precision="fp32",
                          out=tmp_path / "f8.edgekit")
    assert art.passed, art.parity.summary()
    x = np.array([[0.5, -2.0, 3.0]], dtype=np.float32).astype(ml_dtypes.float8_e4m3fn)
    with edgekit.load(tmp_path / "f8.edgekit", target="cpu") as runtime:
        assert np.array_equal(runtime.run({"x": x})["y"], x.astype(np.float32) * 2)


def test_bfloat16_output_is_refused_by_name(tmp_path) -> None:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                              [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "id.onnx"))
    with pytest.raises(edgekit.InputError, match="output 'y' has ONNX element type BFLOAT16"):
        edgekit.compile(str(tmp_path / "id.onnx"), out=tmp_path / "id.edgekit")
