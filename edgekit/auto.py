"""``--target auto`` / ``--precision auto``: build the candidates this host can run, measure them as
``edgekit bench`` does, drop those that fail parity, and ship the fastest of the rest."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit import progress
from edgekit.compiler.options import AUTO, CompileOptions
from edgekit.errors import EdgekitError, InputError
from edgekit.precision import Precision
from edgekit.targets import get_target, parse_targets

AUTO_PRECISIONS = tuple(p.value for p in (Precision.FP32, Precision.FP16, Precision.BF16, Precision.INT8_DYNAMIC,
                                            Precision.INT8))


def candidate_targets(target: str | list[str] | tuple[str, ...]) -> list[str]:
    from edgekit.targets import TARGETS

    if target != AUTO:
        return parse_targets(list(target) if not isinstance(target, str) else target)
    found = [name for name in TARGETS if get_target(name).probe() is None]
    if not found:
        raise InputError("--target auto found no target that this host can run", note="see `edgekit targets`")
    return found


def candidate_precisions(precision: str, has_calibration: bool) -> list[str]:
    if precision != AUTO:
        return [precision]
    from edgekit.native import NATIVE_FLAGS, native_precisions

    native = native_precisions()  # bf16 only where the CPU computes it
    return [p for p in AUTO_PRECISIONS if (not Precision(p).needs_calibration or has_calibration)
            and (p not in NATIVE_FLAGS or p in native)]


# "Simpler" = fewer ways to go wrong on a device: full precision before reduced, reduced float
# before integer, static int8 (calibration data behind it) last; the portable onnxruntime cpu
# target before the vendor backends. A more complex candidate must earn its place by more than noise.
PRECISION_RANK = {Precision.FP32: 0, Precision.FP16: 1, Precision.BF16: 2, Precision.INT8_DYNAMIC: 3,
                  Precision.INT8: 4}
TARGET_RANK = {"cpu": 0, "intel-cpu": 1, "nvidia-gpu": 2}


def simplicity(row: dict[str, Any]) -> tuple[int, int]:
    """Sort key: lower is simpler (precision first, then target)."""
    return (PRECISION_RANK.get(row["precision"], len(PRECISION_RANK)), TARGET_RANK.get(row["target"], 9))


# auto's promise: what it ships is never more than this much slower than the fastest passing
# candidate it measured, however noisy the measurement (benchmarks/auto_choice.py checks it).
MAX_SLOWER = 0.05


def spread(row: dict[str, Any]) -> float:
    """The candidate's measured noise: the half-width of its p50's 95 % confidence interval
    (``p50_ci_ms``); p90 - p50 for rows that lack it (0 when only p50 was recorded)."""
    if row.get("p50_ci_ms") is not None:
        return max(0.0, row["p50_ci_ms"])
    p90 = row.get("p90_ms")
    return max(0.0, p90 - row["p50_ms"]) if p90 is not None else 0.0


def margin(row: dict[str, Any], fastest: dict[str, Any]) -> float:
    """How much slower than ``fastest`` a simpler ``row`` may be and still count as a tie: the larger
    of the two p50s' noise, never more than MAX_SLOWER of the fastest p50. The cap matters: a
    jittery backend's noise could otherwise excuse a candidate several times slower (measured: an
    intel-cpu LSTM at 4.3x the cpu one, within its own p90 - p50)."""
    return min(max(spread(row), spread(fastest)), MAX_SLOWER * fastest["p50_ms"])


def merge_passes(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per candidate from two timing passes in opposite orders.

    Why two: a p50's confidence interval is computed inside one child process, but p50s move by a
    few per cent between processes (measured on the LSTM tagger: cpu int8 and cpu fp32 swapped
    places between auto's timing and a rotated re-timing, benchmarks/RESULTS.md). The p50 is the
    mean of the passes; its noise (``p50_ci_ms``) the larger of either pass's interval and half the
    gap between the passes.
    """
    other = {(r["target"], r["precision"]): r for r in second}
    merged = []
    for row in first:
        again = other.get((row["target"], row["precision"]))
        if again is None:
            merged.append(row)
            continue
        p50s = [row["p50_ms"], again["p50_ms"]]
        noise = max(row.get("p50_ci_ms") or 0.0, again.get("p50_ci_ms") or 0.0, abs(p50s[0] - p50s[1]) / 2)
        merged.append({**row, "p50_ms": sum(p50s) / 2, "p50_ci_ms": noise, "p50_passes_ms": p50s})
    return merged


def choose(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The simplest passing candidate not measurably slower than the fastest passing one.

    "Measurably" = its p50 exceeds the fastest's p50 by more than ``margin`` (the p50s' noise,
    capped at MAX_SLOWER of the fastest). Never a candidate that failed parity. Each row gets an
    ``auto`` note.
    """
    passing = [r for r in rows if r["parity"] == "pass"]
    for r in rows:
        if r["parity"] != "pass":
            r["auto"] = "failed parity"
    if not passing:
        return None, "no candidate passed parity"
    fastest = min(passing, key=lambda r: r["p50_ms"])
    winner = next(r for r in sorted(passing, key=simplicity) if r["p50_ms"] - fastest["p50_ms"] <= margin(r, fastest))
    for r in passing:
        gap, allowed = r["p50_ms"] - fastest["p50_ms"], margin(r, fastest)
        r["auto"] = ("winner" if r is winner else
                     f"slower than the fastest by {gap:.3g} ms, more than the noise margin {allowed:.3g} ms"
                     if gap > allowed else "within noise of the fastest, but less simple than the winner")
    faster_failed = [r for r in rows if r["parity"] != "pass" and r["p50_ms"] < winner["p50_ms"]]
    label = f"{winner['target']} {winner['precision']} at {winner['p50_ms']:.3f} ms p50 (batch 1)"
    if winner is fastest:
        why = f"fastest candidate that passed parity: {label}, of {len(rows)} measured"
    else:
        why = (f"simplest candidate that passed parity within noise of the fastest: {label}; "
               f"{fastest['target']} {fastest['precision']} at {fastest['p50_ms']:.3f} ms is faster by "
               f"{winner['p50_ms'] - fastest['p50_ms']:.3g} ms, not more than the noise margin "
               f"{margin(winner, fastest):.3g} ms (the p50s' 95% confidence, at most {MAX_SLOWER:.0%} of the "
               f"fastest); {len(rows)} measured")
    if faster_failed:
        why += "; faster but failed parity: " + ", ".join(f"{r['target']} {r['precision']}" for r in faster_failed)
    return winner, why


def compile_auto(model: Any, example_inputs: Any, opts: CompileOptions, log: Callable[[str], None]) -> Any:
    """Builds every candidate, benches them, recompiles the winner into ``opts.out`` with the table."""
    from edgekit.bench import BenchOptions, bench_bundles
    from edgekit.compiler.pipeline import compile_model

    target = opts.target
    targets = candidate_targets(target)
    has_calibration = opts.calibration is not None or opts.random_calibration
    precisions = candidate_precisions(opts.precision, has_calibration)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-auto-") as tmp:
        bundles = []
        for i, p in enumerate(precisions, 1):
            # nvidia-gpu has no int8-dynamic: auto leaves that target out of such a candidate; a target
            # list the user gave is kept whole, so the precision is left out instead.
            runnable = [t for t in targets if p in get_target(t).precisions]
            if not runnable or (target != AUTO and runnable != targets):
                log(f"auto: skipping {p}: {', '.join(sorted(set(targets) - set(runnable)))} cannot run it")
                continue
            log(f"auto: building {p} for {','.join(runnable)}")
            progress.count(i, len(precisions), "auto candidates")
            try:
                candidate = replace(opts, target=tuple(runnable), precision=p,
                                    out=Path(tmp) / f"{p}.edgekit", force=False)
                art = compile_model(model, example_inputs, candidate, None)
                bundles.append(str(art.path))
            except EdgekitError as err:
                rows.append({"target": ",".join(runnable), "precision": p, "parity": "not built",
                             "p50_ms": None, "reason": str(err)[:300]})
        if bundles:
            log(f"auto: measuring {len(bundles)} bundle(s), twice, in opposite orders")
            options = BenchOptions(warmup=5, iterations=100, time_budget_s=2.0)
            first = [r.to_dict() for r in bench_bundles(bundles, None, options)]
            second = [r.to_dict() for r in bench_bundles(bundles[::-1], None, options)]
            rows = merge_passes(first, second) + rows
    winner, why = choose([r for r in rows if r.get("p50_ms") is not None])
    if winner is None:
        raise InputError(f"auto: {why}", note="see the candidates above; try --precision fp32 or more data")
    log(f"auto: {why}")
    for r in rows:
        p50 = "" if r.get("p50_ms") is None else f"p50 {r['p50_ms']:.3g} ms, p90 {r.get('p90_ms', 0):.3g} ms: "
        log(f"auto:   {r['target']:<10} {r['precision']:<13} {p50}{r.get('auto') or r.get('reason', '')}")
    selection = {"targets": targets, "precisions": precisions, "candidates": rows, "winner":
                 {"target": winner["target"], "precision": winner["precision"]}, "why": why}
    final = replace(opts, target=tuple(parse_targets(winner["target"])), precision=winner["precision"],
                    selection=selection)
    return compile_model(model, example_inputs, final, log)
