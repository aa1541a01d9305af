"""Which quantized nodes lose the accuracy: float twin vs quantized graph, tensor by tensor.

A node is charged with the error it adds: its own compute (quantized weights) —
its output error minus its input error — plus the error of every Quantize/Dequantize
pair that exists because of it (the pair on its input; or on its output when no
quantized node consumes that tensor). Errors are measured per channel and averaged,
so that one wide-range channel cannot hide the destruction of all the others: the
failure per-tensor int8 is known for.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from edgekit.backends.onnxruntime.runtime import create_session, session_options
from edgekit.parity.layers import expose

Feed = dict[str, np.ndarray]


@dataclass(frozen=True)
class NodeError:
    node: str
    op_type: str
    compute_error: float  # error added by the node's own (quantized-weight) computation
    qdq_error: float  # error added by the activation quantization charged to this node
    output_error: float = 0.0  # error of the node's output vs its float twin (all upstream included)
    order: int = 0  # position in the graph

    @property
    def added(self) -> float:
        return self.compute_error + self.qdq_error


def channel_error(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Mean over channels (axis 1) of noise/signal power, each channel capped at 1 (destroyed)."""
    noise: np.ndarray | float = 0.0
    signal: np.ndarray | float = 0.0
    for r, g in zip(ref, got):
        if r.shape != g.shape:
            return 1.0
        axes = tuple(i for i in range(r.ndim) if i != 1) if r.ndim >= 2 else None
        noise = noise + ((r - g) ** 2).sum(axis=axes)
        signal = signal + (r ** 2).sum(axis=axes)
    noise, signal = np.atleast_1d(noise), np.atleast_1d(signal)
    ratio = np.where(signal > 1e-20, noise / np.maximum(signal, 1e-20), np.where(noise > 1e-20, 1.0, 0.0))
    return float(np.minimum(ratio, 1.0).mean())


def _values(model: onnx.ModelProto, path: Path, feeds: list[Feed], names: list[str]) -> dict[str, list[np.ndarray]]:
    graph_inputs = {i.name for i in model.graph.input}
    inits = {t.name for t in model.graph.initializer}
    wanted = [n for n in names if n not in inits and n not in graph_inputs]
    onnx.save_model(expose(model, wanted), str(path))
    session = create_session(path, session_options(level="none"))
    found: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        for name in names:
            if name in graph_inputs:
                found[name].append(np.asarray(feed[name], np.float64))
        for name, value in zip(wanted, session.run(wanted, feed)):
            found[name].append(np.asarray(value, dtype=np.float64))
    return found


def node_errors(float_path: Path, quant_path: Path, nodes: list[str], feeds: list[Feed],
                scratch: Path) -> list[NodeError]:
    """Per-node added error, worst first."""
    fmodel = onnx.load(str(float_path))
    qmodel = onnx.load(str(quant_path))
    fnodes = {n.name: n for n in fmodel.graph.node}
    qnodes = {n.name: n for n in qmodel.graph.node}
    float_tensors = {o for n in fmodel.graph.node for o in n.output} | {i.name for i in fmodel.graph.input}
    producer = {o: n for n in qmodel.graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for n in qmodel.graph.node:
        for i in n.input:
            consumers[i].append(n)
    # Activation QDQ pairs: float tensor t -> QuantizeLinear -> DequantizeLinear -> d.
    pairs = []
    for q in qmodel.graph.node:
        if q.op_type == "QuantizeLinear" and q.input[0] in float_tensors:
            for dq in consumers[q.output[0]]:
                if dq.op_type == "DequantizeLinear":
                    pairs.append((q.input[0], dq.output[0]))
    computes = []  # (node, op, float input, quant input, output)
    for name in nodes:
        fn, qn = fnodes.get(name), qnodes.get(name)
        if fn is None or not fn.input or not fn.output:
            continue
        q_in = qn.input[0] if qn is not None else fn.input[0]
        computes.append((name, fn.op_type, fn.input[0], q_in, fn.output[0]))
    if not computes:
        return []
    f_names = sorted({c[2] for c in computes} | {c[4] for c in computes} | {t for t, _ in pairs})
    q_names = sorted({c[3] for c in computes} | {c[4] for c in computes} | {t for t, _ in pairs}
                     | {d for _, d in pairs})
    fvals = _values(fmodel, scratch / "sens-float.onnx", feeds, f_names)
    qvals = _values(qmodel, scratch / "sens-quant.onnx", feeds, q_names)

    quantized = {c[0] for c in computes}
    charged: dict[str, float] = defaultdict(float)
    for t, d in pairs:
        added = channel_error(fvals[t], qvals[d]) - channel_error(fvals[t], qvals[t])
        owners = [n.name for n in consumers[d] if n.name in quantized]
        if not owners and t in producer and producer[t].name in quantized:
            owners = [producer[t].name]
        for owner in owners:
            charged[owner] += added
    results = []
    order = {n.name: i for i, n in enumerate(fmodel.graph.node)}
    for name, op, f_in, q_in, out in computes:
        out_error = channel_error(fvals[out], qvals[out])
        compute = out_error - channel_error(fvals[f_in], qvals[q_in])
        results.append(NodeError(name, op, compute, charged[name], out_error, order.get(name, 0)))
    return sorted(results, key=lambda e: e.added, reverse=True)
