"""The lower-precision stage: calibrate, quantize, and fall back to float where accuracy breaks.

Accuracy-aware fallback: when the quantized graph fails parity, the nodes that add
the most error are found by comparing each quantized node with its float twin on
the calibration data, the worst are left in float, and the graph is re-quantized —
until parity passes or the fallback budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.calibration.sources import Batch, DataSource, batches, first_samples
from edgekit.compile.inputs import random_feed
from edgekit.compile.prepare import Prepared
from edgekit.compile.qguard import quantize_checked, raise_opset, recipe_name, subgraph_compute_nodes
from edgekit.compile.quantize import (
    MIN_CALIB_SAMPLES,
    QuantConfig,
    QuantResult,
    feeds_fingerprint,
    preprocess,
    quantize,
    record_hashes,
)
from edgekit.compile.recipes import DEFAULT_TIME_BUDGET_S, SearchResult, Tried, report_key, search
from edgekit.compile.sensitivity import node_errors
from edgekit.errors import EdgekitError, InputError, one_line
from edgekit.parity.compare import compare
from edgekit.parity.report import ParityReport
from edgekit.runtimes.onnxruntime import OnnxRuntime

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
    search: bool = True  # recipe search (edgekit/compile/recipes.py) before node fallback
    search_seconds: float = DEFAULT_TIME_BUDGET_S


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
        source, opset_note = raise_opset(source, scratch)  # qguard: per-channel QDQ needs opset 13
        notes += [opset_note] if opset_note else []
    samples = sum(_rows(f) for f in calib)
    if precision == "int8" and samples < MIN_CALIB_SAMPLES:
        say(f"warning: only {samples} calibration samples; {MIN_CALIB_SAMPLES}+ give more reliable ranges")
        notes.append(f"only {samples} calibration samples (fewer than {MIN_CALIB_SAMPLES})")
    say(f"quantizing to {precision}" + (f" ({config.method} calibration on {samples} samples)"
                                        if precision == "int8" else ""))
    out = scratch / f"{precision}-0.onnx"
    probe = calib[0] if calib else None

    def quantize_fn(src: Path, dst: Path, cfg: QuantConfig, progress: bool = False) -> QuantResult:
        return quantize(src, dst, precision, cfg, calib, scratch, show_progress=progress)

    # qguard: every quantized graph is checked; a failing recipe is retried with a safer one.
    result, config, attempts = quantize_checked(
        lambda s, d, c: quantize_fn(s, d, c, True), source, out, precision, config, probe)
    report = check(result.path)
    history = [_step(0, [], result, report)]
    user_excluded = set(config.exclude)
    allowed = max(budget.min_nodes, math.floor(budget.max_fraction * len(result.quantized_nodes)))
    searched: SearchResult | None = None
    if not report.passed and precision == "int8" and budget.enabled and budget.search:
        searched = _search(source, result, config, report, calib, quantize_fn, probe, check, say, budget, scratch)
        won = searched.winner
        history.append(_step(0, [], won.result, won.report) | {"recipe": won.name})
        best = (won.result, won.config, won.report, won.name)
        # A failing winner that floats whole layers would spend the node budget blindly: the node
        # fallback starts from the best recipe that floats no more nodes than the configured one.
        start = won if won.eval_passed else _fallback_start(searched, config)
        result, config, report, label = start.result, start.config, start.report, start.name
    else:
        label = recipe_name(config, precision)
        best = (result, config, report, label)
    excluded: list[str] = list(config.exclude)
    start_excluded = len(excluded)  # the user's, and a passing winner's
    if not report.passed and precision in ("int8", "int8-dynamic") and budget.enabled:
        say(f"{precision} misses parity ({'; '.join(report.failures)[:200]}); looking for sensitive nodes")
    round_ = 0
    while (not report.passed and precision in ("int8", "int8-dynamic") and budget.enabled
           and round_ < budget.rounds and len(excluded) - start_excluded < allowed):
        round_ += 1
        try:
            errors = node_errors(source, result.path, result.quantized_nodes, calib[:8], scratch)
        except EdgekitError as err:  # tensors renamed by the quantizer: no per-node attribution
            notes.append(f"node fallback stopped: per-node errors not computed ({one_line(err.message, 160)})")
            break
        step = max(1, math.ceil(0.05 * len(result.quantized_nodes)))
        room = allowed - (len(excluded) - start_excluded)
        worst = [e for e in errors if e.node not in excluded][: min(step, room)]
        if not worst:
            break
        excluded += [e.node for e in worst]
        say(f"fallback round {round_}: leaving {', '.join(e.node for e in worst)} in float "
            f"(added error {', '.join(f'{e.added:.3g}' for e in worst)})")
        config = replace(config, exclude=tuple(excluded))
        result, config, more = quantize_checked(quantize_fn, source, scratch / f"{precision}-{round_}.onnx",
                                                precision, config, probe)
        attempts += more
        report = check(result.path)
        history.append(_step(round_, worst, result, report))
        if report_key(report) > report_key(best[2]):
            best = (result, config, report, label)
    if report_key(best[2]) > report_key(report):  # never keep a result worse than one seen
        say("the last attempt was worse than an earlier one; keeping the earlier one")
        result, config, report, label = best
        excluded = list(config.exclude)
        start_excluded = min(start_excluded, len(excluded))
    if not report.passed and len(history) > 1:
        say("fallback budget spent; the best attempt is kept and the bundle is marked failed")
    layer_errors = []
    if precision == "int8" and result.quantized_nodes:
        try:
            errors = sorted(node_errors(source, result.path, result.quantized_nodes, calib[:8], scratch),
                            key=lambda e: e.order)
        except EdgekitError as err:  # a graph from another quantizer (NNCF) renames tensors
            errors = []
            notes.append(f"per-layer errors not computed: {one_line(err.message, 160)}")
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
        "fallback_nodes": excluded[start_excluded:],
        "recipe_float_nodes": [n for n in excluded[:start_excluded] if n not in user_excluded],
        "notes": notes + result.notes,
        "history": history,
        "layer_errors": layer_errors,
        "attempts": [a.to_dict() for a in attempts],
        "subgraph_float_nodes": subgraph_compute_nodes(source) if precision.startswith("int8") else [],
        "recipe": label,
        "recipes": [t.to_dict() for t in searched.table] if searched else [],
        "recipe_search_winner": searched.winner.name if searched else None,
        "recipe_search_stopped": searched.stopped if searched else "",
    }
    return Lowered(result.path, result, summary, history, report)


def _fallback_start(searched: SearchResult, config: QuantConfig) -> Tried:
    """The best eval-checked onnxruntime recipe that floats no node beyond ``config``'s."""
    same = [t for t in searched.table if t.report is not None and t.config is not None
            and t.quantizer == "onnxruntime" and set(t.config.exclude) <= set(config.exclude)
            and t.config.op_types == config.op_types]
    return max(same, key=lambda t: report_key(t.report)) if same else searched.table[0]


def _search(source: Path, result: QuantResult, config: QuantConfig, report: ParityReport, calib: list[Feed],
            quantize_fn: Callable[..., QuantResult], probe: Feed | None, check: Callable[[Path], ParityReport],
            say: Log, budget: FallbackBudget, scratch: Path) -> SearchResult:
    """The recipe search (edgekit/compile/recipes.py) from the configured recipe, which missed parity."""
    say(f"int8 misses parity ({'; '.join(report.failures)[:200]}); searching quantization recipes")

    def quantize_recipe(cfg: QuantConfig, tag: str) -> tuple[QuantResult, QuantConfig]:
        res, used, _ = quantize_checked(quantize_fn, source, scratch / f"int8-{tag}.onnx", "int8", cfg, probe)
        return res, used

    base = Tried(f"as configured ({recipe_name(config, 'int8')})", eval_passed=report.passed,
                 eval_summary=report.summary(), result=result, config=config, report=report)
    found = search(source, base, calib, quantize_recipe, check, say, budget.search_seconds)
    say(f"recipe search: '{found.winner.name}' kept ({'passes' if found.winner.eval_passed else 'still fails'})"
        + (f"; {found.stopped}" if found.stopped else ""))
    return found


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
        "mean_cosine": min((m.mean_cosine for m in report.outputs if m.mean_cosine is not None), default=1.0),
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


def lower_prepared(prep: Prepared, precision: str, config: QuantConfig, calib: list[dict[str, np.ndarray]],
           calib_source: DataSource | None, rule: Any, batches_fn: Callable[[], Iterator[Batch]],
           eval_source: DataSource | None, seed: int, scratch: Path, say: Log, budget: FallbackBudget) -> Lowered:
    """Quantizes the checked fp32 graph, judging each attempt by parity on (part of) the eval data."""
    check_batches = first_samples(batches_fn(), FALLBACK_CHECK_SAMPLES)
    refs = [prep.reference(b.feed) for b in check_batches]
    by_id = {id(b.feed): r for b, r in zip(check_batches, refs)}
    data_desc = eval_source.description if eval_source else f"seeded random inputs (seed {seed})"

    def check(path: Path) -> ParityReport:
        return compare(lambda feed: by_id[id(feed)], OnnxRuntime(path, optimization="all").run,
                       iter(check_batches), prep.output_names, precision, rule,
                       data_description=data_desc, reference_description=prep.reference_description,
                       candidate_description=f"portable {precision} graph (onnxruntime)")

    if calib_source is not None:
        calib_desc = calib_source.description
    elif precision == "int8":
        calib_desc = f"RANDOM inputs (seed {seed + 2})"
    else:
        calib_desc = "seeded random inputs, for node sensitivity only"
    lowered = lower(prep.onnx_path, precision, config, calib, calib_desc, check, scratch, say, budget)
    prep.stages.append({
        "stage": "quantize", "against": prep.reference_description, "passed": bool(lowered.report),
        "detail": f"{precision}: {len(lowered.result.quantized_nodes)} node(s) quantized, "
                  f"{len(lowered.summary['fallback_nodes'])} left in float by the fallback; "
                  + (lowered.report.summary() if lowered.report else ""),
    })
    return lowered


def report_notes(lowered: Lowered | None, calib: list[dict[str, np.ndarray]],
           batches_fn: Callable[[], Iterator[Batch]], eval_source: DataSource | None) -> tuple[str, ...]:
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
        eval_rows = record_hashes([b.feed for b in batches_fn()])
        shared = len(calib_rows & eval_rows)
        if shared:
            notes.append(f"WARNING: {shared} of {len(eval_rows)} evaluation samples were also calibration "
                         "samples; parity on them is optimistic")
    inside = lowered.summary.get("subgraph_float_nodes") or []
    if lowered.summary["precision"] in ("int8", "int8-dynamic") and not lowered.summary["quantized_nodes"]:
        notes.append(f"WARNING: {lowered.summary['precision']} quantized no node"
                     + (" (its compute sits inside control-flow subgraphs, which are not quantized)" if inside else "")
                     + "; the artifact computes in float")
    if inside:
        notes.append(f"{len(inside)} compute node(s) inside If/Loop/Scan subgraphs stayed float: "
                     + ", ".join(inside[:10]) + (" …" if len(inside) > 10 else ""))
    notes += lowered.summary["notes"]
    history = lowered.history
    rows = lowered.summary.get("recipes") or []
    if rows:
        table = "; ".join(f"{r['recipe']}: " + (r["error"] or f"calibration error {r['calib_error']:.4g}"
                          + ("" if r["eval_passed"] is None else f", eval {'pass' if r['eval_passed'] else 'FAIL'}"))
                          for r in rows)
        notes.append(f"recipe search tried {len(rows)} recipe(s) and kept '{lowered.summary['recipe']}' — {table}")
    left = lowered.summary["fallback_nodes"]
    if len(history) > 1 and left:
        kept = lowered.report
        notes.append(
            f"accuracy-aware fallback left {len(left)} node(s) in float ({', '.join(left)}); "
            f"parity before: {'passed' if history[0]['passed'] else 'failed'} (min cosine "
            f"{history[0]['min_cosine']:.5f}), kept: {'passed' if kept and kept.passed else 'failed'} "
            f"(min cosine {min((m.min_cosine for m in kept.outputs), default=1.0) if kept is not None else 0:.5f})"
        )
    return tuple(notes)
