"""The lower-precision stage: calibrate, quantize, and fall back to float where accuracy breaks.

Accuracy-aware fallback: when the quantized graph fails parity, the nodes that add
the most error are found by comparing each quantized node with its float twin on
the calibration data, the worst are left in float, and the graph is re-quantized —
until parity passes or the fallback budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.compiler.build import Build
from edgekit.compiler.inputs import random_feed
from edgekit.compiler.paritydata import ParityData
from edgekit.compiler.prepare import Prepared
from edgekit.compiler.prequant import no_node_reason
from edgekit.compiler.quantize import (
    MIN_CALIB_SAMPLES,
    QuantConfig,
    QuantResult,
    feeds_fingerprint,
    preprocess,
    quantize,
    record_hashes,
)
from edgekit.compiler.sensitivity import node_errors
from edgekit.data.sources import DataSource, batches
from edgekit.errors import InputError
from edgekit.parity.compare import compare
from edgekit.parity.report import ParityReport
from edgekit.precision import INT8_PRECISIONS

Feed = dict[str, np.ndarray]
Log = Callable[[str], None]
MAX_FALLBACK_ROUNDS = 8
FALLBACK_CHECK_SAMPLES = 512
CALIB_BATCH = 8


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
    stage: dict[str, Any] | None = None  # the manifest's record of this stage


def lower(fp32: Path, precision: str, config: QuantConfig, calib: list[Feed], calib_description: str,
          check: Callable[[Path], ParityReport], scratch: Path, say: Callable[[str], None],
          budget: FallbackBudget = FallbackBudget()) -> Lowered:
    """Quantizes ``fp32`` and, for int8, runs the accuracy-aware fallback."""
    notes = []
    source = fp32
    if precision in INT8_PRECISIONS:
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
    if not report.passed and precision in INT8_PRECISIONS and budget.enabled:
        say(f"{precision} misses parity ({'; '.join(report.failures)[:200]}); looking for sensitive nodes")
    round_ = 0
    while (not report.passed and precision in INT8_PRECISIONS and budget.enabled
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
    layer_errors = []
    if precision == "int8" and result.quantized_nodes:
        errors = sorted(node_errors(source, result.path, result.quantized_nodes, calib[:8], scratch),
                        key=lambda e: e.order)
        layer_errors = [{"node": e.node, "op_type": e.op_type, "output_error": e.output_error,
                         "added_error": e.added} for e in errors]
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
        "layer_errors": layer_errors,
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


def calibration_feeds(prep: Prepared, calib_source: DataSource | None, config: QuantConfig,
                       precision: str, seed: int) -> list[dict[str, np.ndarray]]:
    """Calibration batches: the calibration data, else (only when asked) seeded random inputs."""
    if precision == "fp32":
        return []
    if calib_source is not None:
        feeds = [b.feed for b in batches(calib_source, prep.specs, CALIB_BATCH)]
        if not feeds:
            raise InputError(f"{calib_source.description} holds no samples that fit the model")
        return feeds
    rng = np.random.default_rng(seed + 2)
    count = config.samples if precision == "int8" else 8
    lead = next((s for s in prep.shapes.values() if s), (1,))[0]
    return [random_feed(prep.specs, prep.shapes, rng, prep.int_high) for _ in range(max(1, count // max(lead, 1)))]


def lower_prepared(build: Build, prep: Prepared, calib: list[dict[str, np.ndarray]],
                   parity: ParityData) -> Lowered:
    """Quantizes the checked fp32 graph, judging each attempt by parity on (part of) the eval data."""
    precision, config, rule, seed = build.precision, build.opts.quant, build.rule, build.seed
    calib_source, budget = build.calib_source, FallbackBudget(enabled=build.opts.fallback)
    check_batches, cached_reference = parity.head(FALLBACK_CHECK_SAMPLES)

    def check(path: Path) -> ParityReport:
        return compare(cached_reference, OnnxRuntime(path, optimization="all").run,
                       iter(check_batches), prep.output_names, precision, rule,
                       data_description=parity.description, reference_description=prep.reference_description,
                       candidate_description=f"portable {precision} graph (onnxruntime)")

    if calib_source is not None:
        calib_desc = calib_source.description
    elif precision == "int8":
        calib_desc = f"RANDOM inputs (seed {seed + 2})"
    else:
        calib_desc = "seeded random inputs, for node sensitivity only"
    lowered = lower(prep.onnx_path, precision, config, calib, calib_desc, check, build.scratch, build.say, budget)
    lowered.stage = {  # the stage record; Prepared is not mutated
        "stage": "quantize", "against": prep.reference_description, "passed": bool(lowered.report),
        "detail": f"{precision}: {len(lowered.result.quantized_nodes)} node(s) quantized, "
                  f"{len(lowered.summary['fallback_nodes'])} left in float by the fallback; "
                  + (lowered.report.summary() if lowered.report else ""),
    }
    return lowered


def report_notes(lowered: Lowered | None, calib: list[dict[str, np.ndarray]],
           parity: ParityData, eval_source: DataSource | None) -> tuple[str, ...]:
    """What a reader of the report must know about how the artifact was made, warnings first."""
    if lowered is None:
        return ()
    notes = []
    calibration = lowered.summary.get("calibration") or {}
    if calibration.get("random"):
        notes.append("WARNING: int8 was calibrated on RANDOM inputs, not real data; "
                     "its ranges may not fit real inputs")
    if calib and eval_source is not None and calibration and not calibration.get("random"):
        calib_rows = record_hashes(calib)
        eval_rows = record_hashes([b.feed for b in parity.batches()])
        shared = len(calib_rows & eval_rows)
        if shared:
            notes.append(f"WARNING: {shared} of {len(eval_rows)} evaluation samples were also calibration "
                         "samples; parity on them is optimistic")
    if lowered.summary["precision"] in INT8_PRECISIONS and not lowered.summary["quantized_nodes"]:
        notes.append(f"WARNING: {lowered.summary['precision']} quantized no node ({no_node_reason(lowered.path)}); "
                     "the artifact computes in float")
    notes += lowered.summary["notes"]
    history = lowered.history
    if len(history) > 1:
        left = lowered.summary["fallback_nodes"]
        notes.append(
            f"accuracy-aware fallback left {len(left)} node(s) in float ({', '.join(left)}); "
            f"parity before: {'passed' if history[0]['passed'] else 'failed'} (min cosine "
            f"{history[0]['min_cosine']:.5f}), after: {'passed' if history[-1]['passed'] else 'failed'} "
            f"(min cosine {history[-1]['min_cosine']:.5f})"
        )
    return tuple(notes)
