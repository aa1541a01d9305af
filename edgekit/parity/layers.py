"""Per-layer localisation: the first node whose output leaves the tolerance, and the nodes whose
error grows most, from the fp32 graph and the candidate graph with every intermediate exposed.

Tensor names survive fp16 conversion and QDQ quantization, so outputs are matched by name.
The candidate is the bundle's portable graph, the one every target compiles from; compiled
backends fuse intermediates away (OpenVINO's CPU plugin does), so they are not probed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.errors import EdgekitError, InputError, one_line
from edgekit.parity.metrics import ParityRule

Feed = dict[str, np.ndarray]
TOP = 10


@dataclass(frozen=True)
class LayerError:
    node: str
    op_type: str
    output: str
    max_abs: float
    rel_error: float  # noise power / signal power of the output
    cosine: float
    input_rel_error: float  # the worst of its inputs, as they reached it

    @property
    def growth(self) -> float:
        return self.rel_error - self.input_rel_error

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "growth": self.growth}


def expose(model: Any, tensors: list[str]) -> Any:
    """A copy of ``model`` with ``tensors`` added as graph outputs (untyped: onnxruntime infers them)."""
    import onnx

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    present = {o.name for o in exposed.graph.output}
    for name in tensors:
        if name and name not in present:
            exposed.graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
    return exposed


def _expose_all(path: Path, out: Path) -> Any:
    import onnx

    model = onnx.load(str(path))
    onnx.save_model(expose(model, [name for node in model.graph.node for name in node.output]), str(out))
    return model


def _run(path: Path, feeds: list[Feed]) -> dict[str, list[np.ndarray]]:
    from edgekit.backends.onnxruntime.runtime import create_session, session_options

    session = create_session(path, session_options(level="none"))
    names = [o.name for o in session.get_outputs()]
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        try:
            found = session.run(names, feed)
        except Exception as err:  # onnxruntime's own error types; the inputs are the usual cause
            shapes = {k: list(v.shape) for k, v in feed.items()}
            raise InputError(f"--layers: onnxruntime refused inputs of shapes {shapes} on {path.name}: "
                             f"{one_line(err, 300)}",
                             note="the data's samples must fit the bundle's input signature (see edgekit inspect)"
                             ) from err
        for name, value in zip(names, found):
            values[name].append(np.asarray(value))
    return values


def _errors(ref: list[np.ndarray], got: list[np.ndarray]) -> tuple[float, float, float] | None:
    if not ref or any(r.shape != g.shape for r, g in zip(ref, got)):
        return None
    if not all(np.issubdtype(r.dtype, np.floating) for r in ref):
        return None
    r = np.concatenate([x.astype(np.float64).reshape(-1) for x in ref])
    g = np.concatenate([x.astype(np.float64).reshape(-1) for x in got])
    bad = ~np.isfinite(g) & np.isfinite(r)
    if bad.any():
        return float("inf"), 1.0, -1.0
    finite = np.isfinite(r) & np.isfinite(g)
    r, g = r[finite], g[finite]
    noise, signal = float(((r - g) ** 2).sum()), float((r ** 2).sum())
    rel = noise / signal if signal > 1e-30 else (0.0 if noise <= 1e-30 else 1.0)
    denom = float(np.sqrt((r ** 2).sum() * (g ** 2).sum()))
    cos = float((r * g).sum() / denom) if denom > 1e-30 else 1.0
    return float(np.abs(r - g).max(initial=0.0)), rel, cos


def compare_layers(reference: Path, candidate: Path | None, feeds: Iterable[Feed], rule: ParityRule,
                   candidate_values: dict[str, list[np.ndarray]] | None = None) -> dict[str, Any]:
    """Layer-by-layer errors of ``candidate`` (an ONNX graph, or tensors a backend exposed, by
    name) against the fp32 ``reference`` graph."""
    feeds = list(feeds)
    if not feeds:
        raise InputError("--layers needs at least one input sample")
    with tempfile.TemporaryDirectory(prefix="edgekit-layers-") as tmp:
        ref_model = _expose_all(reference, Path(tmp) / "ref.onnx")
        ref_vals = _run(Path(tmp) / "ref.onnx", feeds)
        if candidate_values is None:
            assert candidate is not None
            _expose_all(candidate, Path(tmp) / "cand.onnx")
            candidate_values = _run(Path(tmp) / "cand.onnx", feeds)
        cand_vals = candidate_values
    tensor_error: dict[str, float] = {}
    layers = []
    for node in ref_model.graph.node:
        inputs = [tensor_error.get(i, 0.0) for i in node.input if i]
        for output in node.output:
            if output not in ref_vals or output not in cand_vals:
                continue
            found = _errors(ref_vals[output], cand_vals[output])
            if found is None:
                continue
            max_abs, rel, cos = found
            tensor_error[output] = rel
            layers.append(LayerError(node.name or output, node.op_type, output, max_abs, rel, cos,
                                     max(inputs, default=0.0)))
    if not layers:  # nothing matched by name: "no layer leaves the tolerance" would be a false all-clear
        raise EdgekitError(
            f"--layers compared 0 intermediate tensors between {reference.name} and {candidate.name}: "
            "no float tensor has the same name and shape in both graphs",
            note="the graphs do not share tensor names (renamed by an optimiser?); compare with --against "
                 "the exact fp32 .onnx the bundle was compiled from",
        )
    first = next((e for e in layers if _exceeds(e, rule)), None)
    worst = sorted(layers, key=lambda e: e.growth, reverse=True)[:TOP]
    return {
        "compared_layers": len(layers),
        "first_over_tolerance": None if first is None else first.to_dict(),
        "largest_growth": [e.to_dict() for e in worst],
        "tolerance": _tolerance_text(rule),
    }


def _exceeds(e: LayerError, rule: ParityRule) -> bool:
    if not np.isfinite(e.max_abs):
        return True
    if rule.min_cosine is not None:
        return e.cosine < rule.min_cosine
    # fp32: a relative error well above float rounding
    return e.rel_error > 1e-8


def _tolerance_text(rule: ParityRule) -> str:
    if rule.min_cosine is not None:
        return f"cosine >= {rule.min_cosine} per tensor"
    return "relative error power <= 1e-8 per tensor"


def format_layers(result: dict[str, Any]) -> str:
    lines = [f"compared {result['compared_layers']} intermediate tensors; tolerance: {result['tolerance']}"]
    first = result["first_over_tolerance"]
    if first is None:
        lines.append("no layer leaves the tolerance")
    else:
        lines.append(f"first layer over the tolerance: {first['node']} ({first['op_type']}) -> {first['output']}: "
                     f"max abs {first['max_abs']:.3g}, cosine {first['cosine']:.6f}, "
                     f"rel error {first['rel_error']:.3g}")
    lines.append("largest error growth (output error minus input error):")
    lines.append(f"  {'node':<40} {'op':<16} {'growth':>10} {'rel err':>10} {'cosine':>10} {'max abs':>10}")
    for e in result["largest_growth"]:
        lines.append(f"  {e['node'][:40]:<40} {e['op_type']:<16} {e['growth']:>10.3g} {e['rel_error']:>10.3g} "
                     f"{e['cosine']:>10.6f} {e['max_abs']:>10.3g}")
    return "\n".join(lines)
