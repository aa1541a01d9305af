"""FLOPs of an ONNX graph at concrete input shapes, counted node by node from the graph.

Every count is 2 x the multiply-accumulates (MACs) a *direct* implementation performs:
- Conv: output elements x (C_in / group) x kernel area; ConvTranspose: input elements x
  (C_out / group) x kernel area;
- Gemm and MatMul: output elements x the reduced dimension K (batched MatMul included);
- LSTM / GRU / RNN: per time step, batch row and direction, the gate products with the input
  and the hidden state (W: gates x input, R: gates x hidden).
Element-wise ops, pooling, normalisation and softmax are not counted (they are memory-bound and
small beside the above). A backend that convolves with Winograd or FFT, or skips work, does fewer
real FLOPs than counted here: FLOPs / latency is then an *effective* rate that can exceed the
hardware's peak (benchmarks/peak.py), so tables label it "effective GFLOP/s (direct-conv FLOPs)".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

RECURRENT = ("LSTM", "GRU", "RNN")


def _attr(node: Any, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _macs(node: Any, shape: dict[str, list[int]]) -> float:
    """Multiply-accumulates of one node (0 for ops not counted or shapes not known)."""
    ins = [shape.get(i) if i else None for i in node.input]
    out = shape.get(node.output[0]) if node.output else None
    op = node.op_type
    if op == "Conv" and out and len(ins) > 1 and ins[1]:
        return float(np.prod(out) * np.prod(ins[1][1:]))
    if op == "ConvTranspose" and ins[0] and len(ins) > 1 and ins[1]:
        return float(np.prod(ins[0]) * np.prod(ins[1][1:]))
    if op == "Gemm" and out and ins[0]:
        k = ins[0][0] if _attr(node, "transA", 0) else ins[0][-1]
        return float(np.prod(out) * k)
    if op == "MatMul" and out is not None and ins[0]:
        return float(np.prod(out) * ins[0][-1])
    if op in RECURRENT and ins[0] and len(ins) > 2 and ins[1] and ins[2]:
        x, w, r = ins[0], ins[1], ins[2]  # W: [dirs, gates*H, I], R: [dirs, gates*H, H]
        steps = x[0] * x[1]  # seq x batch, whichever the layout
        return float(steps * w[0] * (w[1] * w[2] + r[1] * r[2]))
    return 0.0


def _shapes(model: Any, shapes: dict[str, tuple[int, ...]]) -> tuple[Any, dict[str, list[int]]]:
    """The model with concrete input shapes, and every tensor's inferred shape."""
    from onnx import shape_inference

    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name]):
                dim.Clear()
                dim.dim_value = size
    model = shape_inference.infer_shapes(model)
    known = {}
    for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            known[v.name] = [d.dim_value for d in dims]
    known.update({t.name: list(t.dims) for t in model.graph.initializer})
    return model, known


def node_flops(model: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, float]:
    """FLOPs per node (name, or op type and index when unnamed) of an in-memory ONNX model."""
    model, known = _shapes(model, shapes)
    return {node.name or f"{node.op_type}_{i}": 2.0 * _macs(node, known)
            for i, node in enumerate(model.graph.node)}


def count_flops(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> float:
    """Total FLOPs of one inference of the model at ``path`` with the given input shapes."""
    import onnx

    return float(sum(node_flops(onnx.load(str(path)), shapes).values()))
