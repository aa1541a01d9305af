"""The lower-precision stage: calibrate, quantize, and fall back to float where accuracy breaks.

Accuracy-aware fallback: when the quantized graph fails parity, the nodes that add
the most error are found by comparing each quantized node with its float twin on
the calibration data, the worst are left in float, and the graph is re-quantized —
until parity passes or the fallback budget is spent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.compile.quantize import (
    MIN_CALIB_SAMPLES,
    QuantConfig,
    QuantResult,
    feeds_fingerprint,
    preprocess,
    quantize,
)
from edgekit.compile.sensitivity import node_errors
from edgekit.parity.report import ParityReport
from edgekit.runtimes.onnxruntime import OnnxRuntime

Feed = dict[str, np.ndarray]
MAX_FALLBACK_ROUNDS = 8


@dataclass(frozen=True)
class FallbackBudget:
    """How far the fallback may go: a share of the quantized nodes, in a number of rounds."""

    max_fraction: float = 0.5
    min_nodes: int = 2
    rounds: int = MAX_FALLBACK_ROUNDS
    enabled: bool = True


@dataclass
class Lowered:
    path: Path
    result: QuantResult
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    report: ParityReport | None = None


def lower(fp32: Path, precision: str, config: QuantConfig, calib: list[Feed], calib_description: str,
          check: Callable[[Path], ParityReport], scratch: Path, say: Callable[[str], None],
          budget: FallbackBudget = FallbackBudget()) -> Lowered:
    """Quantizes ``fp32`` and, for int8, runs the accuracy-aware fallback."""
    notes = []
    source = fp32
    if precision in ("int8", "int8-dynamic"):
        source, note = preprocess(fp32, scratch)
        notes.append(note)
    samples = sum(_rows(f) for f in calib)
    if precision == "int8" and samples < MIN_CALIB_SAMPLES:
        say(f"warning: only {samples} calibration samples; {MIN_CALIB_SAMPLES}+ give more reliable ranges")
        notes.append(f"only {samples} calibration samples (fewer than {MIN_CALIB_SAMPLES})")
    say(f"quantizing to {precision}" + (f" ({config.method} calibration on {samples} samples)"
                                        if precision == "int8" else ""))
    out = scratch / f"{precision}-0.onnx"
    result = quantize(source, out, precision, config, calib, scratch, show_progress=True)
    report = check(result.path)
    history = [_step(0, [], result, report)]
    excluded: list[str] = list(config.exclude)
    user_excluded = set(config.exclude)
    allowed = max(budget.min_nodes, math.floor(budget.max_fraction * len(result.quantized_nodes)))
    if not report.passed and precision in ("int8", "int8-dynamic") and budget.enabled:
        say(f"{precision} misses parity ({'; '.join(report.failures)[:200]}); looking for sensitive nodes")
    round_ = 0
    while (not report.passed and precision in ("int8", "int8-dynamic") and budget.enabled
           and round_ < budget.rounds and len(excluded) - len(user_excluded) < allowed):
        round_ += 1
        errors = node_errors(source, result.path, result.quantized_nodes, calib[:8], scratch)
        step = max(1, math.ceil(0.05 * len(result.quantized_nodes)))
        room = allowed - (len(excluded) - len(user_excluded))
        worst = [e for e in errors if e.node not in excluded][: min(step, room)]
        if not worst:
            break
        excluded += [e.node for e in worst]
        say(f"fallback round {round_}: leaving {', '.join(e.node for e in worst)} in float "
            f"(added error {', '.join(f'{e.added:.3g}' for e in worst)})")
        config = replace(config, exclude=tuple(excluded))
        result = quantize(source, scratch / f"{precision}-{round_}.onnx", precision, config, calib, scratch)
        report = check(result.path)
        history.append(_step(round_, worst, result, report))
    if not report.passed and len(history) > 1:
        say("fallback budget spent; the best attempt is kept and the bundle is marked failed")
    summary = {
        "precision": precision,
        "calibration": None if precision != "int8" else {
            "method": config.method, "samples": samples, "data": calib_description,
            "data_sha256": feeds_fingerprint(calib), "random": config.random_calibration,
        },
        "quantized_nodes": result.quantized_nodes,
        "float_nodes": result.float_nodes,
        "fallback_nodes": [n for n in excluded if n not in user_excluded],
        "notes": notes + result.notes,
        "history": history,
    }
    return Lowered(result.path, result, summary, history, report)


def _rows(feed: Feed) -> int:
    first = next(iter(feed.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def _step(round_: int, added: list[Any], result: QuantResult, report: ParityReport) -> dict[str, Any]:
    worst_cos = min((m.min_cosine for m in report.outputs), default=1.0)
    return {
        "round": round_,
        "left_in_float": [{"node": e.node, "op_type": e.op_type, "added_error": e.added} for e in added],
        "quantized_nodes": len(result.quantized_nodes),
        "passed": report.passed,
        "min_cosine": worst_cos,
        "accuracy": None if report.accuracy is None else report.accuracy.candidate,
        "failures": report.failures,
    }


def time_runtime(run: Callable[[Feed], Any], feed: Feed, repeats: int = 20) -> float:
    """Median milliseconds of ``run(feed)`` after a short warm-up."""
    for _ in range(3):
        run(feed)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feed)
        samples.append((time.perf_counter() - start) * 1e3)
    return float(np.median(samples))


def portable_runner(path: Path) -> OnnxRuntime:
    return OnnxRuntime(path, optimization="all")
