"""Control flow whose outcome is fixed: an ``If`` on a constant condition is inlined.

Quantizers and backends treat ``If``/``Loop`` bodies as opaque, so compute inside them is
left in float or compiled poorly. onnxsim folds some of these; whatever it leaves with a
constant condition (an initializer or a ``Constant``) is replaced here by the branch that
always runs, renamed so that its names cannot clash with the outer graph. The result is kept
only when onnxruntime gives the same outputs as before on the probe feeds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edgekit import onnxio
from edgekit.errors import one_line
from edgekit.parity.metrics import OutputAccumulator, rule_for

CONTROL_FLOW = ("If", "Loop", "Scan")
MAX_ROUNDS = 16


@dataclass(frozen=True)
class FoldResult:
    path: Path
    folded: int
    remaining: dict[str, int]
    detail: str


def _constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _rename_graph(graph: onnx.GraphProto, mapping: dict[str, str]) -> None:
    """Renames names in ``mapping`` wherever a node (in any nested subgraph) reads or writes them."""
    for node in graph.node:
        node.input[:] = [mapping.get(n, n) for n in node.input]
        node.output[:] = [mapping.get(n, n) for n in node.output]
        for attr in node.attribute:
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in subs:
                _rename_graph(sub, mapping)
                for out in sub.output:
                    out.name = mapping.get(out.name, out.name)


def _inline(node: onnx.NodeProto, branch: onnx.GraphProto, prefix: str) -> tuple[list[onnx.NodeProto],
                                                                                   list[onnx.TensorProto]]:
    """The branch's nodes and initializers, renamed under ``prefix``, ending in the If's outputs."""
    branch = onnx.GraphProto.FromString(branch.SerializeToString())
    produced = {t.name for t in branch.initializer}
    for inner in branch.node:
        produced.update(o for o in inner.output if o)
    mapping = {name: f"{prefix}{name}" for name in produced}
    _rename_graph(branch, mapping)
    for tensor in branch.initializer:
        tensor.name = mapping[tensor.name]
    nodes = list(branch.node)
    for out_value, target in zip(branch.output, node.output):
        source = mapping.get(out_value.name, out_value.name)
        nodes.append(onnx.helper.make_node("Identity", [source], [target], name=f"{prefix}out_{target}"))
    return nodes, list(branch.initializer)


def fold_constant_ifs(model: onnx.ModelProto) -> int:
    """Inlines every top-level ``If`` whose condition is constant (repeatedly, for nested ones)."""
    folded = 0
    counter = itertools.count()
    for _ in range(MAX_ROUNDS):
        graph = model.graph
        constants = _constant_values(graph)
        new_nodes: list[onnx.NodeProto] = []
        changed = False
        for node in graph.node:
            cond = constants.get(node.input[0]) if node.op_type == "If" and node.input else None
            if cond is None or cond.size != 1:
                new_nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))
                continue
            branches = {a.name: a.g for a in node.attribute}
            branch = branches["then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"]
            nodes, inits = _inline(node, branch, f"__if{next(counter)}_")
            new_nodes.extend(nodes)
            graph.initializer.extend(inits)
            folded += 1
            changed = True
        del graph.node[:]
        graph.node.extend(new_nodes)
        if not changed:
            break
    return folded


def remaining_control_flow(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in CONTROL_FLOW:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def fold_control_flow(src: Path, dst: Path, feeds: list[dict[str, np.ndarray]]) -> FoldResult:
    """Folds constant-condition Ifs of ``src`` into ``dst``, kept only when outputs are unchanged."""
    from edgekit.backends.onnxruntime.runtime import OnnxRuntime

    model = onnx.load(str(src))
    folded = fold_constant_ifs(model)
    remaining = remaining_control_flow(model)
    left = (f"; left in place: {', '.join(f'{op} x{n}' for op, n in remaining.items())} "
            "(data-dependent condition or loop)") if remaining else ""
    if not folded:
        return FoldResult(src, 0, remaining, f"no constant-condition If to fold{left}")
    try:
        onnx.checker.check_model(model)
        onnxio.save(model, dst)
        before, after = OnnxRuntime(src, optimization="basic"), OnnxRuntime(dst, optimization="basic")
        for feed in feeds:
            want, got = before._run(feed), after._run(feed)
            for name in before.output_names:
                acc = OutputAccumulator(name, rule_for("fp32"))
                acc.add(want[name], got[name], None)
                if not acc.result().passed:
                    return FoldResult(src, 0, remaining, f"discarded: inlining changed output '{name}'")
    except Exception as err:  # the inlined graph does not check or run: keep the original
        return FoldResult(src, 0, remaining, f"discarded: inlined graph fails ({one_line(err, 200)})")
    return FoldResult(dst, folded, remaining, f"inlined {folded} constant-condition If(s); outputs identical "
                      f"on {len(feeds)} input(s){left}")
