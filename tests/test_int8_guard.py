"""int8 graphs edgekit emits are valid; a quantizer crash retries a safer recipe (issue 15, classes 1–2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import edgekit
from edgekit.compiler.qguard import graph_problem


def _save(graph: onnx.GraphProto, path: Path, opset: int) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _data(path: Path, name: str, shape: tuple[int, ...], seed: int) -> Path:
    np.savez(path, **{name: np.random.default_rng(seed).normal(size=shape).astype(np.float32)})
    return path


def test_opset12_conv_becomes_a_valid_per_channel_int8_graph(tmp_path) -> None:
    """Per-channel DequantizeLinear needs opset 13 (its ``axis``); an opset-12 model is converted first."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 1, 3, 3)).astype(np.float32)
    b = rng.normal(size=(8,)).astype(np.float32)
    w2 = rng.normal(size=(4, 8, 3, 3)).astype(np.float32) * 0.3
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["r"], name="relu"),
         helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2", pads=[1, 1, 1, 1])],
        "opset12", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, 8, 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(w2, "w2")])
    model = _save(graph, tmp_path / "m12.onnx", 12)
    calib = _data(tmp_path / "calib.npz", "x", (64, 1, 8, 8), 1)
    evals = _data(tmp_path / "eval.npz", "x", (32, 1, 8, 8), 2)
    art = edgekit.compile(model, precision="int8", calibration=calib, eval_data=evals,
                          out=tmp_path / "m.edgekit")
    q = art.manifest["quantization"]
    assert any("opset 12 converted to 13" in n for n in q["notes"]), q["notes"]
    assert q["attempts"][0]["ok"] and "per-channel" in q["attempts"][0]["recipe"]
    assert sorted(q["quantized_nodes"]) == ["conv", "conv2"]
    assert graph_problem(art.path / "model.onnx") is None
    int8 = onnx.load(str(art.path / "model.onnx"))
    assert any(a.name == "axis" for n in int8.graph.node if n.op_type == "DequantizeLinear" for a in n.attribute)
    assert art.parity.passed, art.parity.summary()


def test_quantizer_crash_is_retried_and_recorded(tmp_path) -> None:
    """A Gemm whose bias is broadcast as [1, N] crashes onnxruntime's int32-bias weight-scale
    adjustment (``The truth value of an array…`` in ``_adjust_weight_scale_for_int32_bias``)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 16)).astype(np.float32) * 0.3
    c = rng.normal(size=(1, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="fc", transB=1)], "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    model = _save(graph, tmp_path / "gemm.onnx", 17)
    calib = _data(tmp_path / "calib.npz", "x", (64, 16), 1)
    art = edgekit.compile(model, precision="int8", calibration=calib, eval_data=_data(tmp_path / "e.npz", "x",
                          (32, 16), 2), out=tmp_path / "g.edgekit")
    attempts = art.manifest["quantization"]["attempts"]
    assert not attempts[0]["ok"] and "ValueError" in attempts[0]["detail"], attempts
    assert attempts[-1]["ok"] and "no-bias-scale-adjust" in attempts[-1]["recipe"]
    assert any("retried with a safer recipe" in n for n in art.manifest["quantization"]["notes"])
    assert art.manifest["quantization"]["quantized_nodes"] == ["fc"]
    ort.InferenceSession(str(art.path / "model.onnx"), providers=["CPUExecutionProvider"])


def test_no_working_recipe_is_a_quantization_error_not_an_input_error(tmp_path) -> None:
    """When every recipe fails inside onnxruntime.quantization (here: calibration feeds that
    onnxruntime refuses), the error is edgekit's, lists what was tried, and is no InputError."""
    import pytest

    from edgekit.compiler.qguard import quantize_checked
    from edgekit.compiler.quantize import QuantConfig, quantize
    from edgekit.errors import InputError, QuantizationError

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [numpy_helper.from_array(np.ones((4, 3), np.float32), "w")])
    model = _save(graph, tmp_path / "mm.onnx", 17)
    feeds = [{"x": np.ones((2, 5), np.float32)}]  # the wrong width: onnxruntime fails while calibrating

    def run(src: Path, dst: Path, cfg: QuantConfig):
        return quantize(src, dst, "int8", cfg, feeds, tmp_path)

    with pytest.raises(QuantizationError) as caught:
        quantize_checked(run, model, tmp_path / "q.onnx", "int8", QuantConfig())
    assert not isinstance(caught.value, InputError) and caught.value.exit_code == 1
    assert "per-channel" in caught.value.message and "per-tensor" in caught.value.message
