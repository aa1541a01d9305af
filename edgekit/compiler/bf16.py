"""Accuracy-aware bf16 on OpenVINO: the portable ONNX stays fp32, the CPU plugin computes bf16,
and layers that break parity are kept in f32, round by round, as the int8 fallback does.

Per-layer control: a node whose runtime info holds ``precise_0`` (the key of OpenVINO's
``DisableFP16Compression`` attribute, what ``ov::disable_fp16_compression`` sets) is kept in
f32 by the CPU plugin under a bf16 precision hint once the IR is saved and read back (measured
on OpenVINO 2026.4: a marked Convolution or FullyConnected reports runtimePrecision f32, its
neighbours bf16; set on an in-memory model, FullyConnected ignores the mark). The target
sets the same mark (``backends/openvino/target.mark_f32``) on the layers this search keeps.

Sensitivity: both the f32 and the bf16 compilation expose every compute layer's input and
output; a layer's *added* error is its output's relative error minus its input's, so the
layer that creates the error is kept, not the ones that inherit it.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.openvino.target import mark_f32
from edgekit.compiler.build import Build
from edgekit.compiler.lowering import FALLBACK_CHECK_SAMPLES, FallbackBudget
from edgekit.compiler.paritydata import ParityData
from edgekit.compiler.prepare import Prepared
from edgekit.parity.compare import compare
from edgekit.parity.report import ParityReport
from edgekit.precision import Precision

Feed = dict[str, np.ndarray]
Run = Callable[[Feed], dict[str, np.ndarray]]
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
SENSITIVITY_FEEDS = 4


def compute_layers(onnx_path: Path) -> list[tuple[str, str, str]]:
    """(output tensor, data input tensor, op type) of each compute node, in graph order."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [(n.output[0], n.input[0], n.op_type) for n in graph.node if n.op_type in COMPUTE_OPS]


def compile_ov(onnx_path: Path, precision: str, keep: Sequence[str] = (), extra: Sequence[str] = ()) -> Any:
    """Compiles the fp32 ONNX for the CPU plugin in f32 or bf16, with f32 marks and extra outputs."""
    import openvino as ov

    from edgekit.backends.openvino.runtime import compile_config

    model = ov.convert_model(str(onnx_path))
    mark_f32(model, keep)
    if extra:
        present = {n for op in model.get_ordered_ops() for o in op.outputs() for n in o.get_names()}
        model.add_outputs([n for n in extra if n in present])
    # Through the IR file, as the target builds it: a mark set from Python is a plain string until
    # read_model turns it into the attribute (FullyConnected ignores it otherwise; measured).
    with tempfile.TemporaryDirectory(prefix="edgekit-bf16-") as tmp:
        xml = Path(tmp) / "model.xml"
        ov.save_model(model, str(xml), compress_to_fp16=False)
        return ov.Core().compile_model(str(xml), "CPU", compile_config(precision))


def runner(compiled: Any, names: Sequence[str]) -> Run:
    """``feed -> {name: array}`` over the named outputs that the compiled model has."""
    request = compiled.create_infer_request()
    ports = [set(p.get_names()) for p in compiled.outputs]
    index = {n: next(i for i, p in enumerate(ports) if n in p) for n in names if any(n in p for p in ports)}

    def run(feed: Feed) -> dict[str, np.ndarray]:
        request.infer(feed)
        return {n: np.array(request.get_output_tensor(i).data, copy=True) for n, i in index.items()}

    return run


def _rel(ref: np.ndarray, cand: np.ndarray) -> float:
    ref64, cand64 = ref.astype(np.float64), cand.astype(np.float64)
    return float(np.linalg.norm(ref64 - cand64) / max(float(np.linalg.norm(ref64)), 1e-12))


def layer_errors(onnx_path: Path, keep: Sequence[str], feeds: list[Feed]) -> list[tuple[str, str, float]]:
    """(output tensor, op type, added relative error) of each bf16 compute layer, worst first."""
    layers = compute_layers(onnx_path)
    tensors = sorted({t for out, inp, _ in layers for t in (out, inp)})
    f32 = runner(compile_ov(onnx_path, "fp32", (), tensors), tensors)
    bf16 = runner(compile_ov(onnx_path, "bf16", keep, tensors), tensors)
    added: dict[str, list[float]] = {}
    for feed in feeds:
        ref, cand = f32(feed), bf16(feed)
        for out, inp, _ in layers:
            if out in ref and out in cand and out not in keep:
                before = _rel(ref[inp], cand[inp]) if inp in ref and inp in cand else 0.0
                added.setdefault(out, []).append(_rel(ref[out], cand[out]) - before)
    ops = {out: op for out, _, op in layers}
    rows = [(out, ops[out], float(np.mean(v))) for out, v in added.items()]
    return sorted(rows, key=lambda r: -r[2])


def bf16_fallback(build: Build, prep: Prepared, parity: ParityData) -> tuple[list[str], list[dict[str, Any]]]:
    """The layers to keep in f32 so that bf16 passes parity (or the budget's best try), and the rounds."""
    budget, say, onnx_path = FallbackBudget(enabled=build.opts.fallback), build.say, prep.onnx_path
    check_batches, cached_reference = parity.head(FALLBACK_CHECK_SAMPLES)
    names = list(prep.output_names)

    def check(keep: list[str]) -> ParityReport:
        run = runner(compile_ov(onnx_path, Precision.BF16.value, keep), names)
        return compare(cached_reference, run, iter(check_batches), names, Precision.BF16.value, build.rule,
                       data_description=parity.description, reference_description=prep.reference_description,
                       candidate_description="bf16 on OpenVINO CPU (fallback search)").report

    keep: list[str] = []
    report = check(keep)
    history = [_step(0, [], report)]
    layers = len(compute_layers(onnx_path))
    allowed = max(budget.min_nodes, math.floor(budget.max_fraction * layers))
    while not report.passed and budget.enabled and len(history) <= budget.rounds and len(keep) < allowed:
        if len(history) == 1:
            say(f"bf16 misses parity ({'; '.join(report.failures)[:200]}); looking for sensitive layers")
        errors = layer_errors(onnx_path, keep, [b.feed for b in check_batches[:SENSITIVITY_FEEDS]])
        worst = errors[: min(max(1, math.ceil(0.05 * layers)), allowed - len(keep))]
        if not worst:
            break
        keep += [w[0] for w in worst]
        say(f"bf16 fallback round {len(history)}: keeping {', '.join(w[0] for w in worst)} in f32 "
            f"(added error {', '.join(f'{w[2]:.3g}' for w in worst)})")
        report = check(keep)
        history.append(_step(len(history), worst, report))
    return keep, history


def _step(round_: int, kept: list[tuple[str, str, float]], report: ParityReport) -> dict[str, Any]:
    return {"round": round_, "kept_f32": [{"tensor": t, "op_type": op, "added_error": e} for t, op, e in kept],
            "passed": report.passed, "min_cosine": min((m.min_cosine for m in report.outputs), default=1.0),
            "failures": report.failures}


def bf16_summary(keep: list[str], history: list[dict[str, Any]]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The manifest's record of the bf16 build and the notes a report reader must see."""
    notes = ["bf16: the portable model.onnx stays fp32; the target computes in bf16 "
             "(the manifest's target 'execution' lists each compute layer's precision)"]
    if len(history) > 1:
        notes.append(f"accuracy-aware bf16 fallback kept {len(keep)} layer(s) in f32 ({', '.join(keep)}); "
                     f"parity before: {'passed' if history[0]['passed'] else 'failed'} (min cosine "
                     f"{history[0]['min_cosine']:.5f}), after: {'passed' if history[-1]['passed'] else 'failed'} "
                     f"(min cosine {history[-1]['min_cosine']:.5f})")
    summary = {"precision": "bf16", "portable": "fp32", "execution": "bf16", "kept_f32": keep,
               "fallback_nodes": keep, "history": history, "notes": notes}
    return summary, tuple(notes)
