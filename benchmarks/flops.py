"""FLOPs of an ONNX graph at concrete input shapes: 2 x multiply-accumulates of Conv, Gemm, MatMul."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import shape_inference


def count_flops(path: Path, shapes: dict[str, tuple[int, ...]]) -> float:
    model = onnx.load(str(path))
    for value in model.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name]):
                dim.Clear()
                dim.dim_value = size
    model = shape_inference.infer_shapes(model)
    known = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
             for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    known.update({t.name: list(t.dims) for t in model.graph.initializer})
    flops = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv" and node.output[0] in known and node.input[1] in known:
            out, w = known[node.output[0]], known[node.input[1]]
            flops += 2.0 * np.prod(out) * np.prod(w[1:])
        elif node.op_type in ("Gemm", "MatMul") and all(i in known for i in node.input[:2]):
            a, b = known[node.input[0]], known[node.input[1]]
            if node.op_type == "Gemm":
                trans_b = next((attr.i for attr in node.attribute if attr.name == "transB"), 0)
                n = b[0] if trans_b else b[-1]
                flops += 2.0 * np.prod(a) * n
            elif a and b:
                flops += 2.0 * np.prod(a) * b[-1]
    return flops
