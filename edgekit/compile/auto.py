"""``--target auto`` / ``--precision auto``: build the candidates this host can run, measure them as
``edgekit bench`` does, drop those that fail parity, and ship the fastest of the rest."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, InputError
from edgekit.targets import get_target

AUTO = "auto"
AUTO_PRECISIONS = ("fp32", "fp16", "bf16", "int8-dynamic", "int8")


def candidate_targets(target: str | list[str]) -> list[str]:
    from edgekit.targets import TARGETS, parse_targets

    if target != AUTO:
        return parse_targets(target)
    found = [name for name in TARGETS if get_target(name).probe() is None]
    if not found:
        raise InputError("--target auto found no target that this host can run", note="see `edgekit targets`")
    return found


def candidate_precisions(precision: str, has_calibration: bool) -> list[str]:
    if precision != AUTO:
        return [precision]
    from edgekit.native import NATIVE_FLAGS, native_precisions

    native = native_precisions()  # bf16 only where the CPU computes it
    return [p for p in AUTO_PRECISIONS if (p != "int8" or has_calibration) and (p not in NATIVE_FLAGS or p in native)]


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


def compile_auto(compile_fn: Callable[..., Any], model: Any, example_inputs: Any, *, target: str | list[str],
                 precision: str, out: Path | None, log: Callable[[str], None], **kwargs: Any) -> Any:
    """Builds every candidate, benches them, recompiles the winner into ``out`` with the table."""
    from edgekit.bench import BenchOptions, bench_bundles

    targets = candidate_targets(target)
    has_calibration = kwargs.get("calibration") is not None or kwargs.get("random_calibration", False)
    precisions = candidate_precisions(precision, has_calibration)
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
                art = compile_fn(model, example_inputs, target=runnable, precision=p,
                                 out=Path(tmp) / f"{p}.edgekit", log=None, **{**kwargs, "force": False})
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
    return compile_fn(model, example_inputs, target=winner["target"], precision=winner["precision"], out=out,
                      log=log, selection=selection, **kwargs)
