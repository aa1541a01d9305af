"""benchmarks/flops.py counts 2 x MACs per node exactly; benchmarks/peak.py's peak is never below its own probe."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from benchmarks.flops import count_flops, node_flops
from benchmarks.peak import flop_per_cycle, host_peak


def _init(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.random.default_rng(0).standard_normal(shape).astype(np.float32), name)


def conv_gemm_model() -> onnx.ModelProto:
    """Conv 3->4 (3x3, pad 1) -> depthwise Conv (group 4) -> Flatten -> Gemm 256->10 (transB), batch dynamic."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], name="depthwise", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Relu", ["c2"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "conv_gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
        [_init("w1", (4, 3, 3, 3)), _init("w2", (4, 1, 3, 3)), _init("w3", (10, 256)), _init("b3", (10,))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_conv_gemm_flops_are_exact(tmp_path) -> None:
    model = conv_gemm_model()
    onnx.checker.check_model(model)
    out = ort.InferenceSession(model.SerializeToString()).run(None, {"x": np.zeros((2, 3, 8, 8), np.float32)})
    assert out[0].shape == (2, 10)  # the graph is real: onnxruntime runs it
    per_node = node_flops(model, {"x": (1, 3, 8, 8)})
    # conv: 4x8x8 outputs x 3x3x3 MACs; depthwise: 4x8x8 x 1x3x3; fc: 10 outputs x 256; 2 FLOPs per MAC
    assert per_node == {"conv": 2 * 256 * 27, "depthwise": 2 * 256 * 9, "relu": 0, "flatten": 0, "fc": 2 * 10 * 256}
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    assert count_flops(path, {"x": (1, 3, 8, 8)}) == 2 * (256 * 27 + 256 * 9 + 2560) == 23552
    assert count_flops(path, {"x": (3, 3, 8, 8)}) == 3 * 23552  # the batch scales every node


def test_batched_matmul_and_lstm_flops() -> None:
    nodes = [helper.make_node("MatMul", ["a", "b"], ["m"], name="bmm"),
             helper.make_node("LSTM", ["s", "W", "R"], ["h"], name="lstm", hidden_size=4)]
    graph = helper.make_graph(
        nodes, "mm_lstm",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 5, 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [7, 2, 3])],
        [helper.make_tensor_value_info("m", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, None)],
        [_init("b", (2, 3, 6)), _init("W", (1, 16, 3)), _init("R", (1, 16, 4))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    flops = node_flops(model, {})
    assert flops["bmm"] == 2 * (2 * 5 * 6) * 3  # 60 outputs, K = 3
    assert flops["lstm"] == 2 * 7 * 2 * (16 * 3 + 16 * 4)  # 14 steps x rows, 4 gates x (input + hidden)


def test_flop_per_cycle_follows_the_isa() -> None:
    avx512 = flop_per_cycle({"avx512f", "avx2", "fma", "avx512_bf16", "avx512_vnni"})
    assert avx512 == {"fp32": 64.0, "bf16": 128.0, "int8": 256.0}
    assert flop_per_cycle({"avx512f", "avx2", "fma"}, double_pumped=True)["fp32"] == 32.0  # Zen 4
    assert flop_per_cycle({"avx2", "fma"}) == {"fp32": 32.0, "bf16": 32.0, "int8": 64.0}


def test_peak_is_not_below_the_gemm_probe() -> None:
    peak = host_peak(threads=1)
    assert peak.gemm_gflops > 0
    assert peak.gemm_gflops <= peak.peaks["fp32"] * (1 + 1e-9)  # the measured clock is taken when higher
    assert peak.peaks["int8"] >= peak.peaks["bf16"] >= peak.peaks["fp32"]
