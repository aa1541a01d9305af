"""Quantized graphs that are valid, or a clear error saying what was tried.

onnxruntime's quantizer can write graphs that neither the ONNX checker nor onnxruntime
accept (per-channel ``DequantizeLinear`` with ``axis`` below opset 13), and it can crash
inside its own steps (the int32-bias weight-scale adjustment on broadcast Gemm biases).
So the opset is raised to 13 first where it is lower, every quantized graph is checked
(full checker, then an onnxruntime load) before anything uses it, and a failure retries
the next, safer recipe. Every attempt is recorded. If none works, the error is edgekit's
(``QuantizationError``), never the user's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgekit import onnxio
from edgekit.compiler.opset import default_opset
from edgekit.compiler.quantize import STATIC_OPS, QuantConfig, QuantResult, dynamic_ops
from edgekit.errors import QuantizationError, one_line
from edgekit.precision import INT8_PRECISIONS, Precision

log = logging.getLogger("edgekit.compiler.qguard")
QDQ_AXIS_OPSET = 13  # DequantizeLinear gained its per-channel ``axis`` in opset 13
CORE_OPS = ("Conv", "Gemm", "MatMul")
QuantizeFn = Callable[[Path, Path, QuantConfig], QuantResult]


@dataclass(frozen=True)
class Attempt:
    """One quantization recipe tried, and what became of it."""

    recipe: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "ok": self.ok, "detail": self.detail}


def raise_opset(path: Path, scratch: Path, target: int = QDQ_AXIS_OPSET) -> tuple[Path, str | None]:
    """``path`` converted to opset ``target`` when it is lower; the original and a note if that fails."""
    import onnx
    from onnx import version_converter

    opset = default_opset(path) or 0
    if opset >= target:
        return path, None
    if onnxio.uses_external_data(path):
        return path, f"opset {opset} kept (external weights); per-channel int8 needs opset {target}"
    try:
        model = onnx.load(str(path))
        converted = version_converter.convert_version(model, target)
        onnx.checker.check_model(converted)
        out = scratch / f"opset{target}.onnx"
        onnx.save(converted, str(out))
        problem = graph_problem(out)
        if problem:
            raise ValueError(problem)
    except Exception as err:  # the converter raises anything; the per-tensor recipe still works
        return path, f"opset {opset} could not be converted to {target} ({one_line(err, 160)})"
    return out, f"opset {opset} converted to {target} before quantizing (per-channel QDQ needs it)"


def graph_problem(path: Path, probe: dict[str, Any] | None = None) -> str | None:
    """Why ``path`` is not a usable graph (full ONNX checker, an onnxruntime load, one run on
    ``probe``: some invalid QDQ graphs load and fail only when run), or None."""
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as err:  # checker errors are ValidationError, shape inference raises others
        return f"onnx checker: {one_line(err, 240)}"
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        return f"onnxruntime load: {one_line(err, 240)}"
    if probe is not None:
        try:
            session.run(None, probe)
        except Exception as err:  # onnxruntime raises its own untyped errors
            return f"onnxruntime run: {one_line(err, 240)}"
    return None


def recipe_name(config: QuantConfig, precision: str) -> str:
    """A short human name of what a config changes from the defaults."""
    if precision != Precision.INT8:
        return f"{precision} ops={'/'.join(dynamic_ops(config))}"
    parts = [config.method, "per-channel" if config.per_channel else "per-tensor",
             "sym-act" if config.symmetric_activations else "asym-act", "ops=" + "/".join(config.op_types)]
    if not config.bias_scale_adjust:
        parts.append("no-bias-scale-adjust")
    if config.exclude:
        parts.append(f"{len(config.exclude)} float node(s)")
    return " ".join(parts)


def safer_recipes(config: QuantConfig, precision: str, opset: int) -> list[QuantConfig]:
    """``config`` first, then recipes that avoid each step known to fail, safest last."""
    if precision == Precision.INT8_DYNAMIC:
        ladder = [config, replace(config, op_types=("MatMul", "Gemm"))]
    else:
        first = config if opset >= QDQ_AXIS_OPSET else replace(config, per_channel=False)
        ladder = [first, replace(first, bias_scale_adjust=False),
                  replace(first, bias_scale_adjust=False, per_channel=False),
                  replace(first, bias_scale_adjust=False, per_channel=False,
                          op_types=tuple(o for o in STATIC_OPS if o in CORE_OPS))]
    unique: list[QuantConfig] = []
    for c in ladder:
        if c not in unique:
            unique.append(c)
    return unique


def quantize_checked(quantize_fn: QuantizeFn, source: Path, out: Path, precision: str, config: QuantConfig,
                     probe: dict[str, Any] | None = None) -> tuple[QuantResult, QuantConfig, list[Attempt]]:
    """The first recipe whose graph quantizes and passes ``graph_problem`` (run on ``probe``);
    raises ``QuantizationError`` listing every attempt if none does."""
    if precision not in INT8_PRECISIONS:
        return quantize_fn(source, out, config), config, []
    attempts: list[Attempt] = []
    for i, recipe in enumerate(safer_recipes(config, precision, default_opset(source) or 0)):
        target = out if i == 0 else out.with_name(f"{out.stem}-r{i}{out.suffix}")
        name = recipe_name(recipe, precision)
        try:
            result = quantize_fn(source, target, recipe)
        except Exception as err:  # onnxruntime.quantization raises anything (ValueError, KeyError, …)
            attempts.append(Attempt(name, False, f"quantizer raised {type(err).__name__}: {one_line(err, 200)}"))
            log.info("quantization recipe '%s' failed: %s", name, attempts[-1].detail)
            continue
        problem = graph_problem(result.path, probe)
        if problem:
            attempts.append(Attempt(name, False, f"invalid graph: {problem}"))
            log.info("quantization recipe '%s' gave an invalid graph: %s", name, problem)
            continue
        attempts.append(Attempt(name, True))
        if i:
            result.notes.append("quantization retried with a safer recipe: " + "; ".join(
                f"{a.recipe}: {a.detail or 'ok'}" for a in attempts))
        return result, recipe, attempts
    tried = "; ".join(f"[{a.recipe}] {a.detail}" for a in attempts)
    raise QuantizationError(f"{precision} quantization failed for every recipe tried: {tried}",
                            note="this is edgekit's failure, not your model's; fp32/fp16 still work — "
                                 "please report it with the model")


def subgraph_compute_nodes(path: Path, ops: tuple[str, ...] = tuple(STATIC_OPS)) -> list[str]:
    """Compute nodes inside If/Loop/Scan bodies: onnxruntime's quantizer leaves them in float."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found: list[str] = []

    def walk(graph: onnx.GraphProto, inside: str | None) -> None:
        for node in graph.node:
            if inside and node.op_type in ops:
                found.append(f"{inside}/{node.name or node.op_type}")
            for attr in node.attribute:
                subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
                for sub in subs:
                    walk(sub, f"{inside + '/' if inside else ''}{node.name or node.op_type}.{attr.name}")

    walk(model.graph, None)
    return found
