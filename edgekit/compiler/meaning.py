"""Which integer graph inputs carry meaning (shapes, axes, sizes, indices) rather than data.

Random values are valid data for a float input, but not for an integer input that becomes
a ``Reshape`` shape, a ``Slice`` bound or a ``Mod`` divisor. This module traces each input's
consumers through the graph (and its subgraphs) so that edgekit can say so instead of
feeding noise to onnxruntime; for indices into a constant table it finds the valid range.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

# op type -> input slots whose values are shapes, sizes, axes or divisors (never random data).
SHAPE_SLOTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2),
    "Slice": (1, 2, 3, 4), "Split": (1,), "Resize": (1, 2, 3), "Upsample": (1,), "CumSum": (1,),
    "TopK": (1,), "Pad": (1, 3), "OneHot": (1,), "Mod": (1,), "Div": (1,), "Squeeze": (1,),
    "Unsqueeze": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "Trilu": (1,), "Loop": (0,), "NonMaxSuppression": (2,),
}
# op type -> input slots that index into another input (slot 0): valid below its size.
INDEX_SLOTS: dict[str, tuple[int, ...]] = {
    "Gather": (1,), "GatherElements": (1,), "GatherND": (1,), "ScatterElements": (1,),
    "ScatterND": (1,), "Scatter": (1,),
}
# Ops that pass an integer tensor's values through unchanged in meaning.
PASS_THROUGH = {"Cast", "Identity", "Unsqueeze", "Squeeze", "Concat", "Flatten", "Reshape"}
INT_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
             onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}


@dataclass(frozen=True)
class IntMeaning:
    """What an integer input feeds: ``shape`` roles cannot be random; ``high`` bounds indices."""

    name: str
    shape_role: str | None = None  # e.g. "the shape of Reshape 'r'"
    high: int | None = None  # indices into a constant table: valid values are [0, high)


def _all_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    nodes = []
    for node in graph.node:
        nodes.append(node)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                nodes.extend(_all_nodes(attr.g))
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    nodes.extend(_all_nodes(sub))
    return nodes


def _constant_dims(model: onnx.ModelProto) -> dict[str, list[int]]:
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                    dims[node.output[0]] = list(attr.t.dims)
    return dims


def integer_input_meanings(model: onnx.ModelProto) -> dict[str, IntMeaning]:
    """Every integer graph input that feeds a shape/index slot, with its role and index bound."""
    inits = {t.name for t in model.graph.initializer}
    nodes = _all_nodes(model.graph)
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in nodes:
        for slot, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, slot))
    const_dims = _constant_dims(model)
    found: dict[str, IntMeaning] = {}
    for value in model.graph.input:
        if value.name in inits or value.type.tensor_type.elem_type not in INT_TYPES:
            continue
        meaning = _trace(value.name, consumers, const_dims)
        if meaning.shape_role is not None or meaning.high is not None:
            found[value.name] = meaning
    return found


def _trace(name: str, consumers: dict[str, list[tuple[onnx.NodeProto, int]]],
           const_dims: dict[str, list[int]]) -> IntMeaning:
    frontier, seen = [name], {name}
    highs: list[int] = []
    while frontier:
        current = frontier.pop()
        for node, slot in consumers.get(current, []):
            label = f"{node.op_type} '{node.name or node.output[0]}'"
            if slot in SHAPE_SLOTS.get(node.op_type, ()):
                return IntMeaning(name, shape_role=f"input {slot} of {label}")
            if slot in INDEX_SLOTS.get(node.op_type, ()):
                high = _index_bound(node, const_dims)
                if high is None:
                    return IntMeaning(name, shape_role=f"the indices of {label}, into a tensor of unknown size")
                highs.append(high)
            if node.op_type in PASS_THROUGH and slot == 0:
                for out in node.output:
                    if out not in seen:
                        seen.add(out)
                        frontier.append(out)
    return IntMeaning(name, high=min(highs) if highs else None)


def _index_bound(node: onnx.NodeProto, const_dims: dict[str, list[int]]) -> int | None:
    data = const_dims.get(node.input[0])
    if not data:
        return None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    if node.op_type == "GatherND":
        axis = 0
    return data[axis] if -len(data) <= axis < len(data) else None
