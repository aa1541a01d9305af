"""``--target auto`` / ``--precision auto``: build the candidates this host can run, measure them as
``edgekit bench`` does, drop those that fail parity, and ship the fastest of the rest."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

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


def choose(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    """The fastest candidate that passed parity (never one that failed), and why it won."""
    passing = [r for r in rows if r["parity"] == "pass"]
    if not passing:
        return None, "no candidate passed parity"
    winner = min(passing, key=lambda r: r["p50_ms"])
    faster_failed = [r for r in rows if r["parity"] != "pass" and r["p50_ms"] < winner["p50_ms"]]
    why = (f"fastest candidate that passed parity: {winner['target']} {winner['precision']} at "
           f"{winner['p50_ms']:.3f} ms p50 (batch 1), of {len(rows)} measured")
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
        for p in precisions:
            # nvidia-gpu has no int8-dynamic: auto leaves that target out of such a candidate; a target
            # list the user gave is kept whole, so the precision is left out instead.
            runnable = [t for t in targets if p in get_target(t).precisions]
            if not runnable or (target != AUTO and runnable != targets):
                log(f"auto: skipping {p}: {', '.join(sorted(set(targets) - set(runnable)))} cannot run it")
                continue
            log(f"auto: building {p} for {','.join(runnable)}")
            try:
                candidate = replace(opts, target=tuple(runnable), precision=p,
                                    out=Path(tmp) / f"{p}.edgekit", force=False)
                art = compile_model(model, example_inputs, candidate, None)
                bundles.append(str(art.path))
            except EdgekitError as err:
                rows.append({"target": ",".join(runnable), "precision": p, "parity": "not built",
                             "p50_ms": None, "reason": str(err)[:300]})
        if bundles:
            log(f"auto: measuring {len(bundles)} bundle(s)")
            measured = bench_bundles(bundles, None, BenchOptions(warmup=5, iterations=100, time_budget_s=2.0))
            rows = [r.to_dict() for r in measured] + rows
    winner, why = choose([r for r in rows if r.get("p50_ms") is not None])
    if winner is None:
        raise InputError(f"auto: {why}", note="see the candidates above; try --precision fp32 or more data")
    log(f"auto: {why}")
    selection = {"targets": targets, "precisions": precisions, "candidates": rows, "winner":
                 {"target": winner["target"], "precision": winner["precision"]}, "why": why}
    final = replace(opts, target=tuple(parse_targets(winner["target"])), precision=winner["precision"],
                    selection=selection)
    return compile_model(model, example_inputs, final, log)
