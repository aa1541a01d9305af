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
from typing import Any

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
    """Mean over channels (axis 1) of noise/signal power, each channel capped at 1 (destroyed).

    Power is pooled over samples while every sample has the same channels; when samples
    differ in shape (variable sequence lengths put time on axis 1), each sample is scored
    on its own and the scores are averaged.
    """
    acc = _ErrorAccumulator()
    for r, g in zip(ref, got):
        acc.add(r, g)
    return acc.error()


class _ErrorAccumulator:
    """``channel_error`` one sample at a time: sums per channel, not the tensors (a 224×224
    CNN's activations over the calibration batches do not fit in memory as float64 lists)."""

    def __init__(self) -> None:
        self.noise: np.ndarray | float = 0.0
        self.signal: np.ndarray | float = 0.0
        self.per_sample: list[float] = []
        self.channels: set[int] = set()
        self.mismatch = False

    def add(self, r: np.ndarray, g: np.ndarray) -> None:
        if r.shape != g.shape:
            self.mismatch = True
            return
        r, g = np.asarray(r, np.float64), np.asarray(g, np.float64)
        axes = tuple(i for i in range(r.ndim) if i != 1) if r.ndim >= 2 else None
        noise, signal = np.atleast_1d(((r - g) ** 2).sum(axis=axes)), np.atleast_1d((r ** 2).sum(axis=axes))
        self.per_sample.append(_ratio(noise, signal))
        self.channels.add(_channels(r))
        if len(self.channels) == 1:
            self.noise, self.signal = self.noise + noise, self.signal + signal

    def error(self) -> float:
        if self.mismatch:
            return 1.0
        if len(self.channels) > 1:
            return float(np.mean(self.per_sample))
        return _ratio(np.atleast_1d(self.noise), np.atleast_1d(self.signal))


def _channels(r: np.ndarray) -> int:
    return int(r.shape[1]) if r.ndim >= 2 else 1


def _ratio(noise: np.ndarray, signal: np.ndarray) -> float:
    ratio = np.where(signal > 1e-20, noise / np.maximum(signal, 1e-20), np.where(noise > 1e-20, 1.0, 0.0))
    return float(np.minimum(ratio, 1.0).mean())


def _session(model: onnx.ModelProto, path: Path, names: list[str]) -> tuple[Any, list[str]]:
    graph_inputs = {i.name for i in model.graph.input}
    inits = {t.name for t in model.graph.initializer}
    wanted = [n for n in names if n not in inits and n not in graph_inputs]
    onnx.save_model(expose(model, wanted), str(path))
    return create_session(path, session_options(level="none")), wanted


def _errors(fmodel: onnx.ModelProto, qmodel: onnx.ModelProto, feeds: list[Feed], scratch: Path,
            comparisons: set[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """``channel_error`` of each (float tensor, quantized tensor) pair, feed by feed."""
    fsession, fwanted = _session(fmodel, scratch / "sens-float.onnx", sorted({f for f, _ in comparisons}))
    qsession, qwanted = _session(qmodel, scratch / "sens-quant.onnx", sorted({q for _, q in comparisons}))
    accs = {c: _ErrorAccumulator() for c in comparisons}
    for feed in feeds:
        fvals = {**feed, **dict(zip(fwanted, fsession.run(fwanted, feed)))}
        qvals = {**feed, **dict(zip(qwanted, qsession.run(qwanted, feed)))}
        for (f, q), acc in accs.items():
            if f in fvals and q in qvals:  # an initializer has no error to measure
                acc.add(fvals[f], qvals[q])
        del fvals, qvals
    return {c: acc.error() for c, acc in accs.items()}


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
    comparisons = ({(t, d) for t, d in pairs} | {(t, t) for t, _ in pairs}
                   | {(c[4], c[4]) for c in computes} | {(c[2], c[3]) for c in computes})
    errors = _errors(fmodel, qmodel, feeds, scratch, comparisons)

    quantized = {c[0] for c in computes}
    charged: dict[str, float] = defaultdict(float)
    for t, d in pairs:
        added = errors[(t, d)] - errors[(t, t)]
        owners = [n.name for n in consumers[d] if n.name in quantized]
        if not owners and t in producer and producer[t].name in quantized:
            owners = [producer[t].name]
        for owner in owners:
            charged[owner] += added
    results = []
    order = {n.name: i for i, n in enumerate(fmodel.graph.node)}
    for name, op, f_in, q_in, out in computes:
        out_error = errors[(out, out)]
        compute = out_error - errors[(f_in, q_in)]
        results.append(NodeError(name, op, compute, charged[name], out_error, order.get(name, 0)))
    return sorted(results, key=lambda e: e.added, reverse=True)
