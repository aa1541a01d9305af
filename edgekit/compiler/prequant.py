"""Graphs that arrive already quantized (ConvInteger, MatMulInteger, QLinear*, QDQ pairs).

Such a graph computes in integers whatever precision the user asks for; backends round its
integer ops differently (OpenVINO vs onnxruntime), so it is judged by the int8 rule, and it is
never quantized a second time. Also says honestly why a quantizer touched no node.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import onnx

from edgekit.precision import INT8_PRECISIONS

QUANTIZED_OPS = frozenset({
    "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
    "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
    "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "QGemm",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "DynamicQuantizeLSTM",
})
CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def _op_counts(graph: onnx.GraphProto, counts: Counter[str]) -> Counter[str]:
    for node in graph.node:
        counts[node.op_type] += 1
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _op_counts(attr.g, counts)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    _op_counts(sub, counts)
    return counts


def quantized_ops(path: Path) -> dict[str, int]:
    """The quantized op types in an ONNX file (and its subgraphs), with their counts.

    A file that does not parse has none here; loading it with its checks says what is wrong.
    """
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # protobuf DecodeError, OSError...: reported by onnxio.load_checked
        return {}
    counts = _op_counts(model.graph, Counter())
    return {op: n for op, n in sorted(counts.items()) if op in QUANTIZED_OPS}


def keeps_quantized(ops: dict[str, int], precision: str) -> bool:
    """A graph quantized before it arrived is kept as it is at int8: no calibration, no second pass."""
    return bool(ops) and precision in INT8_PRECISIONS


def describe(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in ops.items())


def prequantized_note(ops: dict[str, int], precision: str) -> str:
    """What edgekit did with a graph that was quantized before it arrived."""
    done = ("kept as it is (not quantized a second time)" if precision.startswith("int8")
            else f"compiled as it is at {precision}")
    return (f"the model arrives already quantized ({describe(ops)}): {done}, and judged by the int8 parity "
            "rule, since backends compute integer ops differently")


def no_node_reason(path: Path) -> str:
    """Why a quantizer quantized nothing in this graph, from what the graph holds."""
    model = onnx.load(str(path), load_external_data=False)
    top = Counter(n.op_type for n in model.graph.node)
    counts = _op_counts(model.graph, Counter())
    if any(op in QUANTIZED_OPS for op in counts) and not any(op in QUANTIZED_OPS for op in top):
        return "the graph's compute is already quantized inside subgraphs"
    if any(op in CONTROL_FLOW for op in top) and sum(counts.values()) > 2 * sum(top.values()):
        return "most nodes sit inside control-flow subgraphs, which are not quantized"
    return "the graph has no node of the op types this precision quantizes"
