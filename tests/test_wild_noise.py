"""Class 4 of issue 14: fp32 parity allows the reference's own optimisation noise, and says so."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import edgekit
from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.data.sources import Batch
from edgekit.parity.compare import compare
from edgekit.parity.metrics import rule_for
from edgekit.parity.noise import measure_onnx_noise

C, OFFSET = 8, 1000.0


def _conv_bn(weight_scale: float = 1.0) -> onnx.ModelProto:
    """Conv + BatchNorm whose running mean cancels a large input offset: onnxruntime's default
    optimisation folds the BN into the Conv, which reorders float arithmetic on large values."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((C, C, 3, 3)) * 0.3).astype(np.float32)
    mean = (OFFSET * w.sum(axis=(1, 2, 3))).astype(np.float32)
    w[0] *= weight_scale
    inits = [numpy_helper.from_array(a, n) for a, n in [
        (w, "w"), (np.ones(C, np.float32), "g"), (np.zeros(C, np.float32), "b"), (mean, "m"),
        (np.full(C, 0.5, np.float32), "v")]]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"])]
    graph = helper.make_graph(nodes, "convbn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", C, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", C, 16, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _inputs(count: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (OFFSET + rng.standard_normal((count, C, 16, 16))).astype(np.float32)


def test_reordering_noise_is_allowed_and_reported(tmp_path) -> None:
    path = tmp_path / "convbn.onnx"
    onnx.save(_conv_bn(), str(path))
    np.savez(tmp_path / "eval.npz", x=_inputs(8))
    art = edgekit.compile(str(path), eval_data=tmp_path / "eval.npz", out=tmp_path / "m.edgekit")
    assert art.passed, art.parity.summary()
    allowed = art.manifest["parity"]["rule_overrides"]["atol"]
    assert allowed > rule_for("fp32").atol  # the default alone would have refused this artifact
    assert art.manifest["parity"]["noise_allowance"]["noise_max_abs"]["y"] > 0
    assert any("fp32 tolerance: atol raised" in n for n in art.parity.notes)
    text = "".join(p.read_text() for p in (tmp_path / "m.edgekit").rglob("parity*.json"))
    assert "fp32 tolerance: atol raised" in text
    assert edgekit.load(tmp_path / "m.edgekit").selfcheck().passed  # the same rule on the device


def test_broken_graph_still_fails_under_the_allowance(tmp_path) -> None:
    good, broken = tmp_path / "good.onnx", tmp_path / "broken.onnx"
    onnx.save(_conv_bn(), str(good))
    onnx.save(_conv_bn(weight_scale=1.01), str(broken))  # one channel's weights 1% off
    reference = OnnxRuntime(good, optimization="none")
    feeds = [{"x": x[None]} for x in _inputs(4)]
    rule, allowance = measure_onnx_noise(good, reference.run, feeds, ["y"], rule_for("fp32"))
    assert allowance is not None and rule.atol == allowance.atol_after
    report = compare(reference.run, OnnxRuntime(broken).run, (Batch(f, None, 1) for f in feeds), ["y"], "fp32",
                     rule, data_description="", reference_description="", candidate_description="broken").report
    assert not report.passed
    optimised = compare(reference.run, OnnxRuntime(good).run, (Batch(f, None, 1) for f in feeds), ["y"], "fp32",
                        rule, data_description="", reference_description="", candidate_description="good").report
    assert optimised.passed
