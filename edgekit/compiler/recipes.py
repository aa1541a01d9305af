"""Recipe search: when int8 misses parity, try whole quantization recipes before node fallback.

Which recipe works is a property of the model: some need only the compute ops quantized,
some lose their accuracy in the first or last layer, some in outliers that another
calibration method clips, some in one-sided activations. Each candidate is quantized
(through ``qguard``, so only valid graphs count), run on the calibration feeds in
onnxruntime against float outputs computed once, and ranked by a scoring callable —
``default_score`` or, later, the user's metric. The best few by calibration error are
checked on the eval data (one that cuts the failing recipe's calibration error 4x is checked at
once and ends the search when it passes); the best report seen is kept, never a worse one.
Recipes that share the configured calibration method reuse its ranges (``calibcache``). The search
is bounded in time and says what it is doing; the table of every recipe tried goes into
the manifest and the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import progress
from edgekit.compiler.quantize import QuantConfig, QuantResult
from edgekit.errors import EdgekitError, one_line
from edgekit.parity.kinds import CLASSIFIER
from edgekit.parity.metrics import OutputAccumulator, OutputMetrics, rule_for
from edgekit.parity.report import ParityReport
from edgekit.precision import Precision

log = logging.getLogger("edgekit.compiler.recipes")
Feed = dict[str, np.ndarray]
Outputs = list[dict[str, np.ndarray]]
# (float outputs, candidate outputs) per calibration feed -> error; lower is better.
Scorer = Callable[[Outputs, Outputs], float]
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
SENSITIVE_OPS = ("Softmax", "LayerNormalization", "Resize", "Concat", "Gather", "GatherElements")
EXTRA_ALL_OPS = ("Add", "Mul", "Concat", "Softmax", "Sigmoid", "GlobalAveragePool")
EVAL_CHECKS = 3  # candidates checked on the eval data, best calibration error first
DEFAULT_TIME_BUDGET_S = 90.0
# A recipe whose calibration error is this fraction of the configured recipe's (which failed on
# eval) is checked on eval at once; if it passes, the search stops there (issue 15: fast to find).
EARLY_CHECK_RATIO = 0.25


@dataclass(frozen=True)
class Candidate:
    name: str
    config: QuantConfig
    quantizer: str = "onnxruntime"  # or "nncf" (edgekit/compile/nncf_quant.py), when installed


@dataclass
class Tried:
    """One row of the recipe table."""

    name: str
    quantizer: str = "onnxruntime"
    calib_error: float | None = None
    eval_passed: bool | None = None
    eval_summary: str = ""
    error: str = ""
    seconds: float = 0.0
    result: QuantResult | None = field(default=None, repr=False)
    config: QuantConfig | None = field(default=None, repr=False)
    report: ParityReport | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.name, "quantizer": self.quantizer, "calib_error": self.calib_error,
                "eval_passed": self.eval_passed, "eval": self.eval_summary, "error": self.error,
                "seconds": round(self.seconds, 2)}


@dataclass
class SearchResult:
    winner: Tried
    table: list[Tried]
    stopped: str = ""  # why the search stopped early, if it did


def _compute_nodes(model: Any) -> list[str]:
    inits = {t.name for t in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type in COMPUTE_OPS and len(n.input) > 1 and n.input[1] in inits]


def _residual_adds(model: Any) -> list[str]:
    """Add nodes joining two computed tensors (skip connections), not a bias add."""
    inits = {t.name for t in model.graph.initializer}
    produced = {o for n in model.graph.node for o in n.output}
    return [n.name for n in model.graph.node if n.op_type == "Add"
            and all(i in produced and i not in inits for i in n.input)]


def all_ops() -> tuple[str, ...]:
    from onnxruntime.quantization.registry import QDQRegistry

    return tuple(dict.fromkeys([*QDQRegistry, *EXTRA_ALL_OPS]))


def candidates(model_path: Path, base: QuantConfig) -> list[Candidate]:
    """Recipes that each change one thing from ``base``, cheapest first."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    compute = _compute_nodes(model)
    ends = tuple(dict.fromkeys([*base.exclude, *compute[:1], *compute[-1:]]))
    found = [Candidate(f"{m} calibration", replace(base, method=m))
             for m in ("percentile", "entropy") if m != base.method]
    if len(compute) > 2:
        found.append(Candidate("first and last compute layers in float", replace(base, exclude=ends)))
    found.append(Candidate("symmetric activations" if not base.symmetric_activations else "asymmetric activations",
                           replace(base, symmetric_activations=not base.symmetric_activations)))
    if set(base.op_types) != set(COMPUTE_OPS):
        found.append(Candidate("only Conv/Gemm/MatMul quantized", replace(base, op_types=COMPUTE_OPS)))
    sensitive_free = tuple(o for o in all_ops() if o not in SENSITIVE_OPS)
    found.append(Candidate("all ops quantized except Softmax/LayerNorm/residual Add/Resize/Concat/Gather",
                           replace(base, op_types=sensitive_free,
                                   exclude=tuple(dict.fromkeys([*base.exclude, *_residual_adds(model)])))))
    found.append(Candidate("per-tensor weights" if base.per_channel else "per-channel weights",
                           replace(base, per_channel=not base.per_channel)))
    from edgekit.compiler import nncf_quant

    if nncf_quant.available():
        found.append(Candidate("NNCF quantize (its default preset)", base, quantizer="nncf"))
    # Recipes that reuse the base method's cached ranges (compiler/calibcache) cost a quantization
    # and a run each; another method costs a calibration first: those go last within the time budget.
    return sorted(found, key=lambda c: c.quantizer == "onnxruntime" and c.config.method != base.method)


def run_outputs(path: Path, feeds: list[Feed]) -> Outputs:
    """The graph's outputs on every feed, in onnxruntime (what the cpu target runs)."""
    from edgekit.backends.onnxruntime.runtime import create_session, session_options

    session = create_session(path, session_options(level="all"))
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(names, feed))) for feed in feeds]


def output_metrics(refs: Outputs, cands: Outputs) -> list[OutputMetrics]:
    """Kind-aware metrics of every output over the calibration feeds."""
    rule = rule_for(Precision.INT8)
    accs: dict[str, OutputAccumulator] = {}
    for ref, cand in zip(refs, cands):
        for name, value in ref.items():
            arr = np.asarray(value)
            accs.setdefault(name, OutputAccumulator(name, rule)).add(
                arr, np.asarray(cand[name]), arr.shape[0] if arr.ndim else None)
    return [a.result() for a in accs.values()]


def default_score(refs: Outputs, cands: Outputs) -> float:
    """The worst output's error: 1 - mean cosine, plus the share of task decisions that moved,
    plus the worst channel's noise-to-signal ratio where channels are judged."""
    worst = 0.0
    for m in output_metrics(refs, cands):
        error = 1.0 - (m.mean_cosine if m.mean_cosine is not None else 1.0)
        if m.kind in CLASSIFIER and m.top1_agreement is not None:
            error += 1.0 - m.top1_agreement
        if m.kind == "sequence-classes" and m.position_agreement is not None:
            error += 1.0 - m.position_agreement
        if m.kind in ("regression", "packed") and m.worst_channel_snr_db is not None:
            error += min(1.0, 10 ** (-m.worst_channel_snr_db / 10))
        worst = max(worst, error if np.isfinite(error) else 1e9)
    return worst


def report_key(report: ParityReport) -> tuple[bool, int, float]:
    """Orders eval reports: passed first, then fewer failures, then higher worst mean cosine."""
    worst = min((m.mean_cosine if m.mean_cosine is not None else m.min_cosine for m in report.outputs),
                default=1.0)
    return (report.passed, -len(report.failures), worst)


def search(source: Path, base: Tried, calib: list[Feed], quantize: Callable[[QuantConfig, str], tuple[
           QuantResult, QuantConfig]], check: Callable[[Path], ParityReport], say: Callable[[str], None],
           time_budget_s: float = DEFAULT_TIME_BUDGET_S, scorer: Scorer = default_score) -> SearchResult:
    """Tries ``candidates`` after ``base`` (already quantized and checked); returns the best seen."""
    start = time.monotonic()
    refs = run_outputs(source, calib)  # float outputs, computed once
    base.calib_error = scorer(refs, run_outputs(base.result.path, calib)) if base.result else None
    table, stopped = [base], ""
    options = candidates(source, base.config or QuantConfig())
    say(f"searching {len(options)} quantization recipes (time budget {time_budget_s:.0f} s)")
    for i, cand in enumerate(options):
        if time.monotonic() - start > time_budget_s:
            stopped = f"time budget of {time_budget_s:.0f} s spent after {i} of {len(options)} recipes"
            break
        progress.count(i + 1, len(options), "recipes")
        tried = _try(cand, i, quantize, refs, calib, scorer, source)
        table.append(tried)
        say(f"  recipe {i + 1}/{len(options)} '{cand.name}': "
            + (f"calibration error {tried.calib_error:.4g}" if tried.error == "" else f"failed ({tried.error})"))
        if _clearly_better(tried, base) and _checked(tried, check).passed:
            cut = base.calib_error / max(tried.calib_error, 1e-12)
            stopped = f"'{cand.name}' cut the calibration error {cut:.0f}x and passed on eval after {i + 1} " \
                      f"of {len(options)} recipes"
            return SearchResult(tried, table, stopped)
    best = base
    ranked = sorted((t for t in table[1:] if t.calib_error is not None and t.result is not None),
                    key=lambda t: t.calib_error)
    for tried in ranked[:EVAL_CHECKS]:
        if base.calib_error is not None and tried.calib_error >= base.calib_error:
            break  # no better than what already failed on the eval data
        report = _checked(tried, check)
        # An NNCF graph is kept only when it passes: the node fallback re-quantizes with onnxruntime.
        usable = tried.quantizer != "nncf" or report.passed
        if usable and (best.report is None or report_key(report) > report_key(best.report)):
            best = tried
        if report.passed:
            break
    return SearchResult(best, table, stopped)


def _clearly_better(tried: Tried, base: Tried) -> bool:
    """Worth an eval check before the ranking ends: a fraction of the failing recipe's error."""
    return (tried.calib_error is not None and tried.result is not None and base.calib_error is not None
            and tried.calib_error <= EARLY_CHECK_RATIO * base.calib_error)


def _checked(tried: Tried, check: Callable[[Path], ParityReport]) -> ParityReport:
    """The eval report of ``tried``, checked once."""
    if tried.report is None:
        tried.report = check(tried.result.path)
        tried.eval_passed, tried.eval_summary = tried.report.passed, tried.report.summary()
    return tried.report


def _try(cand: Candidate, i: int, quantize: Callable[[QuantConfig, str], tuple[QuantResult, QuantConfig]],
         refs: Outputs, calib: list[Feed], scorer: Scorer, source: Path) -> Tried:
    began = time.monotonic()
    tried = Tried(cand.name, quantizer=cand.quantizer)
    try:
        if cand.quantizer == "nncf":
            tried.result, tried.config = _nncf(source, calib), cand.config
        else:
            tried.result, tried.config = quantize(cand.config, f"recipe{i + 1}")
        if not tried.result.quantized_nodes:  # a float graph has no error to rank: it is no int8 recipe
            tried.error, tried.result = "quantized no node", None
        else:
            tried.calib_error = scorer(refs, run_outputs(tried.result.path, calib))
    except EdgekitError as err:  # QuantizationError: no valid graph for this recipe
        tried.error = one_line(err.message, 200)
    except Exception as err:  # a scorer or onnxruntime failure on one candidate must not end the search
        tried.error = f"{type(err).__name__}: {one_line(err, 200)}"
        log.info("recipe '%s' failed: %s", cand.name, tried.error)
    tried.seconds = time.monotonic() - began
    return tried


def _nncf(source: Path, calib: list[Feed]) -> QuantResult:
    from edgekit.compiler.nncf_quant import quantize_nncf
    from edgekit.compiler.qguard import graph_problem

    result = quantize_nncf(source, source.with_name("recipe-nncf.onnx"), calib)
    problem = graph_problem(result.path, calib[0] if calib else None)
    if problem:
        raise ValueError(f"invalid graph: {problem}")
    return result
