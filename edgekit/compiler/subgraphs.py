"""Static int8 inside ``If`` branches: onnxruntime's QDQ quantizer never enters subgraphs.

(Its ``EnableSubgraph`` option exists only for the QOperator/dynamic quantizer, which
int8-dynamic uses.) For static int8 each top-level ``If`` branch that holds compute is
quantized here: the branch becomes a model whose inputs are the outer-scope tensors it
reads (outer initializers are copied in, so weights it reads from outside quantize too),
is calibrated on those tensors' values over the calibration batches that take the branch,
quantized with the same recipe, and spliced back under fresh tensor names. The result is
checked (full checker, onnxruntime load and run); a branch that fails stays float and is
reported with its reason. ``Loop``/``Scan`` bodies (loop-carried state that calibration
cannot replay) stay float and are reported per body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("edgekit.compiler.subgraphs")
Feed = dict[str, np.ndarray]
# (branch model, out path, calibration feeds) -> quantized branch model path
QuantizeBranch = Callable[[Path, Path, list[Feed]], Path]


@dataclass
class SubgraphReport:
    """What happened to the compute inside subgraphs: quantized, or float and why (per body)."""

    quantized: list[str] = field(default_factory=list)  # "If-node.then_branch/MatMul-node"
    float_bodies: dict[str, str] = field(default_factory=dict)  # body -> why its compute stayed float

    def notes(self) -> list[str]:
        found = [f"{len(self.quantized)} compute node(s) inside If branches quantized"] if self.quantized else []
        return found + [f"{body} stayed float: {why}" for body, why in self.float_bodies.items()]


def has_subgraphs(path: Path) -> bool:
    """Whether any node of the graph carries a body (cheap: no weights are read)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(_bodies(n) for n in model.graph.node)


def _bodies(node: Any) -> list[tuple[str, Any]]:
    import onnx

    return [(a.name, a.g) for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]


def _has_compute(graph: Any, ops: tuple[str, ...]) -> bool:
    return any(n.op_type in ops or any(_has_compute(g, ops) for _, g in _bodies(n)) for n in graph.node)


def _outer_names(graph: Any) -> list[str]:
    """Tensors the body reads from the enclosing scope, in first-use order."""
    local = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    found: list[str] = []
    for node in graph.node:
        for name in node.input:
            if name and name not in local and name not in found:
                found.append(name)
        local.update(node.output)
    return found


def _branch_model(model: Any, body: Any, outer: list[str], types: dict[str, Any]) -> Any:
    """The body as a model: outer tensors become inputs, outer initializers are copied in."""
    from onnx import helper

    inits = {t.name: t for t in model.graph.initializer}
    inputs = [types[n] for n in outer if n not in inits]
    graph = helper.make_graph(list(body.node), f"{body.name or 'branch'}", inputs, list(body.output),
                              [*body.initializer, *(inits[n] for n in outer if n in inits)])
    branch = helper.make_model(graph, opset_imports=list(model.opset_import))
    branch.ir_version = model.ir_version
    return branch


def _branch_feeds(model: Any, node: Any, branch: str, outer: list[str], calib: list[Feed],
                  scratch: Path) -> list[Feed]:
    """The outer tensors' values on the calibration batches whose condition takes ``branch``."""
    import onnx

    from edgekit.backends.onnxruntime.runtime import create_session, session_options
    from edgekit.parity.layers import expose

    inits = {t.name for t in model.graph.initializer}
    graph_inputs = {i.name for i in model.graph.input}
    wanted = [n for n in dict.fromkeys([node.input[0], *outer]) if n not in inits and n not in graph_inputs]
    path = scratch / "subgraph-calib.onnx"
    onnx.save_model(expose(model, wanted), str(path))
    session = create_session(path, session_options(level="none"))
    take = branch == "then_branch"
    chosen: list[Feed] = []
    every: list[Feed] = []
    for feed in calib:
        values = dict(zip(wanted, session.run(wanted, feed))) if wanted else {}
        values.update({n: feed[n] for n in graph_inputs if n in feed})
        inputs = {n: values[n] for n in outer if n not in inits}
        every.append(inputs)
        if bool(np.asarray(values[node.input[0]]).reshape(-1)[0]) == take:
            chosen.append(inputs)
    return chosen or every


def _splice(body: Any, quantized: Any, outer: list[str], prefix: str) -> None:
    """Replaces ``body``'s contents with the quantized branch, renaming every tensor it defines."""
    keep = set(outer) - {t.name for t in quantized.graph.initializer}
    rename = {}
    for t in quantized.graph.initializer:
        rename[t.name] = f"{prefix}{t.name}"
    for n in quantized.graph.node:
        for o in n.output:
            if o and o not in keep:
                rename[o] = f"{prefix}{o}"
    nodes = []
    for n in quantized.graph.node:
        n.input[:] = [rename.get(i, i) for i in n.input]
        n.output[:] = [rename.get(o, o) for o in n.output]
        n.name = f"{prefix}{n.name}" if n.name else n.name
        nodes.append(n)
    outputs = []
    for o in quantized.graph.output:
        o.name = rename.get(o.name, o.name)
        outputs.append(o)
    inits = []
    for t in quantized.graph.initializer:
        t.name = rename[t.name]
        inits.append(t)
    del body.node[:], body.output[:], body.initializer[:], body.value_info[:]
    body.node.extend(nodes)
    body.output.extend(outputs)
    body.initializer.extend(inits)


def quantize_if_branches(source: Path, quantized_path: Path, ops: tuple[str, ...], calib: list[Feed],
                         scratch: Path, quantize_branch: QuantizeBranch,
                         problem: Callable[[Path], str | None]) -> SubgraphReport:
    """Quantizes the compute inside ``quantized_path``'s top-level If branches in place."""
    import onnx

    report = SubgraphReport()
    model = onnx.shape_inference.infer_shapes(onnx.load(str(source)))
    types = {v.name: v for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    float_nodes = {n.name: n for n in model.graph.node}
    target = onnx.load(str(quantized_path))
    changed = False
    for qnode in target.graph.node:
        fnode = float_nodes.get(qnode.name)
        for attr, body in _bodies(qnode):
            where = f"{qnode.name or qnode.op_type}.{attr}"
            if not _has_compute(body, ops):
                continue
            if qnode.op_type != "If" or fnode is None:
                report.float_bodies[where] = f"{qnode.op_type} bodies are not quantized (loop-carried state)"
                continue
            try:
                done = _quantize_branch(model, fnode, attr, body, types, calib, scratch, quantize_branch, where)
            except Exception as err:  # the quantizer and the body extraction raise anything; the body stays float
                report.float_bodies[where] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
                continue
            report.quantized += done
            changed = changed or bool(done)
    if not changed:
        return report
    out = quantized_path.with_name(quantized_path.stem + "-branches.onnx")
    onnx.save(target, str(out))
    why = problem(out)
    if why:
        bodies = sorted({q.split("/")[0] for q in report.quantized})
        return SubgraphReport([], {**report.float_bodies, **{b: f"spliced graph invalid ({why[:160]})"
                                                             for b in bodies}})
    out.replace(quantized_path)
    return report


def _quantize_branch(model: Any, fnode: Any, attr: str, body: Any, types: dict[str, Any], calib: list[Feed],
                     scratch: Path, quantize_branch: QuantizeBranch, where: str) -> list[str]:
    import onnx

    fbody = next(g for a, g in _bodies(fnode) if a == attr)
    if any(_bodies(n) for n in fbody.node):
        raise ValueError("nested subgraphs inside the branch")
    outer = _outer_names(fbody)
    missing = [n for n in outer if n not in types and n not in {t.name for t in model.graph.initializer}]
    if missing:
        raise ValueError(f"no type known for outer tensor(s) {', '.join(missing[:3])}")
    branch = _branch_model(model, fbody, outer, types)
    tag = "".join(c if c.isalnum() else "_" for c in where)
    path = scratch / f"branch-{tag}.onnx"
    onnx.save(branch, str(path))
    feeds = _branch_feeds(model, fnode, attr, outer, calib, scratch) if calib else []
    qpath = quantize_branch(path, scratch / f"branch-{tag}-int8.onnx", feeds)
    quantized = onnx.load(str(qpath))
    inits = {t.name for t in quantized.graph.initializer}
    weight_dq = {n.output[0] for n in quantized.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    done = [f"{where}/{n.name}" for n in quantized.graph.node if any(i in weight_dq for i in n.input)
            and n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    if done:
        _splice(body, quantized, outer, f"{tag}/")
    return done


def dynamic_quantized(before: Path, after: Path, ops: tuple[str, ...]) -> list[str]:
    """Compute nodes inside bodies that int8-dynamic replaced (``EnableSubgraph``), as
    ``If-node.branch/node``: the body's float node of that name is gone from the quantized body."""
    import onnx

    def walk(graph: Any, prefix: str, into: dict[str, set[str]]) -> None:
        for node in graph.node:
            for attr, body in _bodies(node):
                where = f"{prefix}{node.name or node.op_type}.{attr}"
                into[where] = {n.name for n in body.node if n.op_type in ops}
                walk(body, where + "/", into)

    found_before: dict[str, set[str]] = {}
    found_after: dict[str, set[str]] = {}
    walk(onnx.load(str(before), load_external_data=False).graph, "", found_before)
    walk(onnx.load(str(after), load_external_data=False).graph, "", found_after)
    return [f"{where}/{name}" for where, names in found_before.items() if where in found_after
            for name in sorted(names) if name not in found_after[where]]


def quantize_inside(src: Path, result: Any, precision: str, cfg: Any, calib: list[Feed], scratch: Path,
                    probe: Feed | None) -> None:
    """Adds the compute quantized inside bodies to ``result`` (a quantize.QuantResult of ``src``):
    static int8 through ``quantize_if_branches`` with the same recipe; int8-dynamic counts what
    onnxruntime's ``EnableSubgraph`` replaced."""
    from edgekit.compiler.qguard import graph_problem
    from edgekit.compiler.quantize import dynamic_ops, quantize
    from edgekit.precision import Precision

    if precision == Precision.INT8_DYNAMIC:
        result.quantized_nodes += dynamic_quantized(src, result.path, dynamic_ops(cfg))
        return
    if precision != Precision.INT8:
        return

    def branch(path: Path, out: Path, feeds: list[Feed]) -> Path:
        return quantize(path, out, Precision.INT8, cfg, feeds, scratch).path

    inside = quantize_if_branches(src, result.path, tuple(cfg.op_types), calib, scratch, branch,
                                  lambda p: graph_problem(p, probe))
    result.quantized_nodes += inside.quantized
    result.notes += inside.notes()
