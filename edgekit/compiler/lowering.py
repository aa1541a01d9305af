"""The lower-precision stage: calibrate, quantize, and fall back to float where accuracy breaks.

Accuracy-aware fallback: when the quantized graph fails parity, the nodes that add
the most error are found by comparing each quantized node with its float twin on
the calibration data, the worst are left in float, and the graph is re-quantized —
until parity passes or the fallback budget is spent.
"""

from __future__ import annotations

import functools
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
from edgekit.compiler.qguard import Attempt, quantize_checked, raise_opset, recipe_name, subgraph_compute_nodes
from edgekit.compiler.quantize import (
    MIN_CALIB_SAMPLES,
    QuantConfig,
    QuantResult,
    feeds_fingerprint,
    preprocess,
    quantize,
)
from edgekit.compiler.recipes import DEFAULT_TIME_BUDGET_S, SearchResult, Tried, report_key, search
from edgekit.compiler.sensitivity import node_errors
from edgekit.compiler.subgraphs import has_subgraphs, quantize_inside
from edgekit.data.sources import DataSource, batches
from edgekit.errors import EdgekitError, InputError, one_line
from edgekit.parity.compare import compare
from edgekit.parity.report import ParityReport
from edgekit.precision import INT8_PRECISIONS, Precision
from edgekit.progress import count as count_progress
from edgekit.progress import stage as start_stage

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
    search: bool = True  # recipe search (compiler/recipes.py) before node fallback
    search_seconds: float = DEFAULT_TIME_BUDGET_S


@dataclass(frozen=True)
class LowerJob:
    """What one lowering works from: the checked fp32 graph, the precision and its recipe, and the
    calibration feeds with their description."""

    fp32: Path
    precision: str
    config: QuantConfig
    calib: list[Feed]
    calib_description: str


@dataclass
class Lowered:
    path: Path
    result: QuantResult
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    report: ParityReport | None = None
    stage: dict[str, Any] | None = None  # the manifest's record of this stage
    recipe: str = ""  # the recipe kept (qguard.recipe_name, or the search winner's name)
    attempts: list[Attempt] = field(default_factory=list)  # qguard's safer-recipe retries
    search: SearchResult | None = None  # the recipe search, when the configured recipe missed parity
    recipe_float_nodes: list[str] = field(default_factory=list)  # floated by the kept recipe, not the user
    subgraph_float_nodes: list[str] = field(default_factory=list)  # compute inside If/Loop/Scan bodies


@dataclass
class _Quantizer:
    """One lowering's quantizer: the source graph, precision and calibration every attempt shares."""

    source: Path
    precision: str
    calib: list[Feed]
    scratch: Path

    @property
    def probe(self) -> Feed | None:
        return self.calib[0] if self.calib else None

    def __call__(self, src: Path, dst: Path, cfg: QuantConfig, progress: bool = False) -> QuantResult:
        result = quantize(src, dst, self.precision, cfg, self.calib, self.scratch, show_progress=progress)
        if self.branches:  # compute inside If/Loop/Scan bodies (compiler/subgraphs.py)
            quantize_inside(src, result, self.precision, cfg, self.calib, self.scratch, self.probe)
        return result

    @functools.cached_property
    def branches(self) -> bool:
        return has_subgraphs(self.source)

    def checked(self, name: str, cfg: QuantConfig, progress: bool = False,
                precision: str | None = None) -> tuple[QuantResult, QuantConfig, list[Attempt]]:
        """qguard: the graph is checked; a failing recipe is retried with a safer one."""
        return quantize_checked(lambda s, d, c: self(s, d, c, progress), self.source,
                                self.scratch / f"{name}.onnx", precision or self.precision, cfg, self.probe)


@dataclass
class _State:
    """The attempt the fallback works on, the best one seen, and the record of how it got there."""

    result: QuantResult
    config: QuantConfig
    report: ParityReport
    label: str
    history: list[dict[str, Any]]
    attempts: list[Attempt]
    excluded: list[str] = field(default_factory=list)
    start_excluded: int = 0  # the user's excluded nodes, and a passing search winner's
    best: tuple[QuantResult, QuantConfig, ParityReport, str] | None = None
    searched: SearchResult | None = None

    def keep_if_best(self) -> None:
        if self.best is None or report_key(self.report) > report_key(self.best[2]):
            self.best = (self.result, self.config, self.report, self.label)


def lower(job: LowerJob, check: Callable[[Path], ParityReport], scratch: Path, say: Callable[[str], None],
          budget: FallbackBudget = FallbackBudget()) -> Lowered:
    """Quantizes ``job.fp32`` and, for int8, searches recipes and runs the accuracy-aware fallback;
    ``check`` judges each attempt's graph."""
    fp32, precision, config, calib = job.fp32, job.precision, job.config, job.calib
    notes: list[str] = []
    source = _source(fp32, precision, scratch, notes)
    samples = sum(_rows(f) for f in calib)
    if precision == Precision.INT8 and samples < MIN_CALIB_SAMPLES:
        say(f"warning: only {samples} calibration samples; {MIN_CALIB_SAMPLES}+ give more reliable ranges")
        notes.append(f"only {samples} calibration samples (fewer than {MIN_CALIB_SAMPLES})")
    start_stage(say, "quantize", f"quantizing to {precision}" + (f" ({config.method} calibration on {samples} samples)"
                                        if precision == Precision.INT8 else ""))
    q = _Quantizer(source, precision, calib, scratch)
    result, config, attempts = q.checked(f"{precision}-0", config, progress=True)
    report = check(result.path)
    state = _State(result, config, report, recipe_name(config, precision), [_step(0, [], result, report)], attempts)
    user_excluded = set(config.exclude)
    allowed = max(budget.min_nodes, math.floor(budget.max_fraction * len(result.quantized_nodes)))
    if not report.passed and precision == Precision.INT8 and budget.enabled and budget.search:
        _search_stage(state, q, check, say, budget)
    state.keep_if_best()
    state.excluded, state.start_excluded = list(state.config.exclude), len(state.config.exclude)
    if not state.report.passed and precision in INT8_PRECISIONS and budget.enabled:
        say(f"{precision} misses parity ({'; '.join(state.report.failures)[:200]}); looking for sensitive nodes")
        _node_fallback(state, q, check, say, budget, allowed, notes)
    _keep_best(state, say)
    if not state.report.passed and len(state.history) > 1:
        say("fallback budget spent; the best attempt is kept and the bundle is marked failed")
    summary = _summary(state, q, job.calib_description, samples, notes)
    return Lowered(state.result.path, state.result, summary, state.history, state.report, recipe=state.label,
                   attempts=state.attempts, search=state.searched,
                   recipe_float_nodes=[n for n in state.excluded[:state.start_excluded] if n not in user_excluded],
                   subgraph_float_nodes=[n for n in subgraph_compute_nodes(source) if n not in
                                         state.result.quantized_nodes] if precision in INT8_PRECISIONS else [])


def _source(fp32: Path, precision: str, scratch: Path, notes: list[str]) -> Path:
    """The graph to quantize: onnxruntime's pre-processing, then opset 13+ (per-channel QDQ needs it)."""
    if precision not in INT8_PRECISIONS:
        return fp32
    source, note = preprocess(fp32, scratch)
    notes.append(note)
    source, opset_note = raise_opset(source, scratch)
    notes += [opset_note] if opset_note else []
    return source


def _search_stage(state: _State, q: _Quantizer, check: Callable[[Path], ParityReport], say: Log,
                  budget: FallbackBudget) -> None:
    """The recipe search (compiler/recipes.py) from the configured recipe, which missed parity."""
    say(f"int8 misses parity ({'; '.join(state.report.failures)[:200]}); searching quantization recipes")

    def quantize_recipe(cfg: QuantConfig, tag: str) -> tuple[QuantResult, QuantConfig]:
        res, used, _ = q.checked(f"int8-{tag}", cfg, precision=Precision.INT8)
        return res, used

    base = Tried(f"as configured ({state.label})", eval_passed=state.report.passed,
                 eval_summary=state.report.summary(), result=state.result, config=state.config, report=state.report)
    found = search(q.source, base, q.calib, quantize_recipe, check, say, budget.search_seconds)
    say(f"recipe search: '{found.winner.name}' kept ({'passes' if found.winner.eval_passed else 'still fails'})"
        + (f"; {found.stopped}" if found.stopped else ""))
    won = found.winner
    state.searched = found
    state.history.append(_step(0, [], won.result, won.report) | {"recipe": won.name})
    state.best = (won.result, won.config, won.report, won.name)
    # A failing winner that floats whole layers would spend the node budget blindly: the node
    # fallback starts from the best recipe that floats no more nodes than the configured one.
    start = won if won.eval_passed else _fallback_start(found, state.config)
    state.result, state.config, state.report, state.label = start.result, start.config, start.report, start.name


def _fallback_start(searched: SearchResult, config: QuantConfig) -> Tried:
    """The best eval-checked onnxruntime recipe that floats no node beyond ``config``'s."""
    same = [t for t in searched.table if t.report is not None and t.config is not None
            and t.quantizer == "onnxruntime" and set(t.config.exclude) <= set(config.exclude)
            and t.config.op_types == config.op_types]
    return max(same, key=lambda t: report_key(t.report)) if same else searched.table[0]


def _node_fallback(state: _State, q: _Quantizer, check: Callable[[Path], ParityReport], say: Log,
                   budget: FallbackBudget, allowed: int, notes: list[str]) -> None:
    """Leaves the nodes that add the most error in float, a few per round, until parity passes."""
    round_ = 0
    while (not state.report.passed and round_ < budget.rounds
           and len(state.excluded) - state.start_excluded < allowed):
        round_ += 1
        count_progress(round_, budget.rounds, "fallback rounds")
        result = state.result
        try:
            errors = node_errors(q.source, result.path, result.quantized_nodes, q.calib[:8], q.scratch)
        except EdgekitError as err:  # tensors renamed by the quantizer: no per-node attribution
            notes.append(f"node fallback stopped: per-node errors not computed ({one_line(err.message, 160)})")
            break
        step = max(1, math.ceil(0.05 * len(result.quantized_nodes)))
        room = allowed - (len(state.excluded) - state.start_excluded)
        worst = [e for e in errors if e.node not in state.excluded][: min(step, room)]
        if not worst:
            break
        state.excluded += [e.node for e in worst]
        say(f"fallback round {round_}: leaving {', '.join(e.node for e in worst)} in float "
            f"(added error {', '.join(f'{e.added:.3g}' for e in worst)})")
        config = replace(state.config, exclude=tuple(state.excluded))
        state.result, state.config, more = q.checked(f"{q.precision}-{round_}", config)
        state.attempts += more
        state.report = check(state.result.path)
        state.history.append(_step(round_, worst, state.result, state.report))
        state.keep_if_best()


def _keep_best(state: _State, say: Log) -> None:
    """Never keeps a result worse than one seen (a later round, or the search, may do worse)."""
    if state.best is None or report_key(state.best[2]) <= report_key(state.report):
        return
    say("the last attempt was worse than an earlier one; keeping the earlier one")
    state.result, state.config, state.report, state.label = state.best
    state.excluded = list(state.config.exclude)
    state.start_excluded = min(state.start_excluded, len(state.excluded))


def _layer_errors(state: _State, q: _Quantizer, notes: list[str]) -> list[dict[str, Any]]:
    """Each quantized node's output error and the error it adds, in graph order (int8 only)."""
    result = state.result
    if q.precision != Precision.INT8 or not result.quantized_nodes:
        return []
    try:
        errors = sorted(node_errors(q.source, result.path, result.quantized_nodes, q.calib[:8], q.scratch),
                        key=lambda e: e.order)
    except EdgekitError as err:  # a graph from another quantizer (NNCF) renames tensors
        notes.append(f"per-layer errors not computed: {one_line(err.message, 160)}")
        return []
    return [{"node": e.node, "op_type": e.op_type, "output_error": e.output_error, "added_error": e.added}
            for e in errors]


def _summary(state: _State, q: _Quantizer, calib_description: str, samples: int,
             notes: list[str]) -> dict[str, Any]:
    """The lowering's own record; manifest.assemble_manifest adds the recipe fields from ``Lowered``."""
    config, result = state.config, state.result
    layer_errors = _layer_errors(state, q, notes)
    return {
        "precision": q.precision,
        "calibration": None if q.precision != Precision.INT8 else {
            "method": config.method, "samples": samples, "data": calib_description,
            "data_sha256": feeds_fingerprint(q.calib), "random": config.random_calibration,
        },
        "quantized_nodes": result.quantized_nodes,
        "float_nodes": result.float_nodes,
        "fallback_nodes": state.excluded[state.start_excluded:],
        "notes": notes + result.notes,
        "history": state.history,
        "layer_errors": layer_errors,
    }



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
    if precision == Precision.FP32:
        return []
    if calib_source is not None:
        feeds = [b.feed for b in batches(calib_source, prep.specs, CALIB_BATCH)]
        if not feeds:
            raise InputError(f"{calib_source.description} holds no samples that fit the model")
        return feeds
    rng = np.random.default_rng(seed + 2)
    count = config.samples if precision == Precision.INT8 else 8
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
                       candidate_description=f"portable {precision} graph (onnxruntime)").report

    if calib_source is not None:
        calib_desc = calib_source.description
    elif precision == Precision.INT8:
        calib_desc = f"RANDOM inputs (seed {seed + 2})"
    else:
        calib_desc = "seeded random inputs, for node sensitivity only"
    job = LowerJob(prep.onnx_path, precision, config, calib, calib_desc)
    lowered = lower(job, check, build.scratch, build.say, budget)
    lowered.stage = {  # the stage record; Prepared is not mutated
        "stage": "quantize", "against": prep.reference_description, "passed": bool(lowered.report),
        "detail": f"{precision}: {len(lowered.result.quantized_nodes)} node(s) quantized, "
                  f"{len(lowered.summary['fallback_nodes'])} left in float by the fallback; "
                  + (lowered.report.summary() if lowered.report else ""),
    }
    return lowered

