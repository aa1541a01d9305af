"""Class 2 of issue 14: internal checks run on real samples, random inputs only when checked."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import edgekit
from edgekit.compiler.meaning import integer_input_meanings
from edgekit.errors import InputError


def _save(tmp_path, graph: onnx.GraphProto, opset: int = 13):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return path


def _reflect_if_graph() -> onnx.GraphProto:
    """A VAD-like graph: inside an If, a reflect Pad that needs length >= 2 on the dynamic axis."""
    pads = helper.make_tensor("pads", TensorProto.INT64, [4], [0, 1, 0, 1])
    then_g = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect")], "then", [],
                               [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["d0", "d1"])])
    else_g = helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["q"])], "else", [],
                               [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["d0", "d1"])])
    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    one = helper.make_tensor("one", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Gather", ["shp", "one"], ["len"]),
        helper.make_node("Greater", ["len", "zero"], ["cond1"]),
        helper.make_node("Squeeze", ["cond1"], ["cond"]),
        helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    return helper.make_graph(nodes, "vad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "t"])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["d0", "d1"])], [pads, zero, one])


def test_if_reflect_pad_with_eval_data(tmp_path) -> None:
    path = _save(tmp_path, _reflect_if_graph())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.standard_normal((4, 1, 16)).astype(np.float32))
    art = edgekit.compile(str(path), eval_data=tmp_path / "eval.npz", out=tmp_path / "a.edgekit")
    assert art.passed, art.parity.summary()


def test_if_reflect_pad_without_data_uses_valid_sizes(tmp_path) -> None:
    path = _save(tmp_path, _reflect_if_graph())
    art = edgekit.compile(str(path), out=tmp_path / "b.edgekit")  # never a blind size 1 on 't'
    assert art.passed, art.parity.summary()


def _stride32_graph() -> onnx.GraphProto:
    """Runs only when H and W are multiples of 32 (as YOLO-style detectors do)."""
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.5])
    nodes = [helper.make_node("SpaceToDepth", ["x"], ["s"], blocksize=32),
             helper.make_node("DepthToSpace", ["s"], ["d"], blocksize=32),
             helper.make_node("Mul", ["d", "scale"], ["y"])]
    return helper.make_graph(nodes, "yolo_like",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])], [scale])


def test_multiple_of_32_model_with_real_320_images(tmp_path) -> None:
    path = _save(tmp_path, _stride32_graph())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.random((3, 3, 320, 320), dtype=np.float32))
    art = edgekit.compile(str(path), eval_data=tmp_path / "eval.npz", out=tmp_path / "c.edgekit")
    assert art.passed, art.parity.summary()
    simplify = next(s for s in art.manifest["portable_model"]["stages"] if s["stage"] == "simplify")
    assert "discarded" not in simplify["detail"] and "failed" not in simplify["detail"]


def _reshape_by_input_graph() -> onnx.GraphProto:
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"])]
    return helper.make_graph(nodes, "reshape_input",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
                              helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["d0", "d1"])])


def test_int_shape_input_without_samples_is_a_clean_error(tmp_path) -> None:
    path = _save(tmp_path, _reshape_by_input_graph())
    with pytest.raises(InputError, match=r"'shape' is input 1 of Reshape.*--eval DATA"):
        edgekit.compile(str(path), out=tmp_path / "d.edgekit")


def test_int_shape_input_with_real_samples(tmp_path) -> None:
    path = _save(tmp_path, _reshape_by_input_graph())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "eval.npz", x=rng.standard_normal((3, 2, 6)).astype(np.float32),
             shape=np.tile(np.array([3, 4], np.int64), (3, 1)))
    art = edgekit.compile(str(path), eval_data=tmp_path / "eval.npz", out=tmp_path / "e.edgekit")
    assert art.passed, art.parity.summary()


def test_gather_indices_into_a_table_get_a_valid_bound() -> None:
    table = helper.make_tensor("table", TensorProto.FLOAT, [5, 3], np.zeros(15, np.float32))
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["y"])], "emb",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["d0", "d1"])], [table])
    meanings = integer_input_meanings(helper.make_model(graph))
    assert meanings["ids"].high == 5 and meanings["ids"].shape_role is None


def test_eval_folder_with_two_sequence_lengths(tmp_path) -> None:
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.linspace(-1, 1, 12, dtype=np.float32))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "seq",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "seq", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "seq", 3])], [w])
    path = _save(tmp_path, graph)
    data = tmp_path / "eval"
    data.mkdir()
    rng = np.random.default_rng(0)
    np.savez(data / "a.npz", x=rng.standard_normal((3, 5, 4)).astype(np.float32))
    np.savez(data / "b.npz", x=rng.standard_normal((3, 7, 4)).astype(np.float32))
    art = edgekit.compile(str(path), eval_data=data, out=tmp_path / "f.edgekit")
    assert art.passed, art.parity.summary()
    assert art.parity.samples == 6


def test_cli_says_what_to_give_in_one_line(tmp_path) -> None:
    from tests.conftest import run_cli

    path = _save(tmp_path, _reshape_by_input_graph())
    proc = run_cli("compile", str(path), "--out", str(tmp_path / "g.edgekit"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'shape' is input 1 of Reshape" in errors[0] and "--eval DATA" in errors[0]
