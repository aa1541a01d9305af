"""int8 must pay for itself: it costs accuracy, so it has to beat the best *float* precision the
same target runs here (fp32, and bf16 where the CPU computes it), not just fp32.

When it does not, the manifest's first field and the report's first note say so. ``auto``
never ships such an int8: it measures every candidate and takes the fastest that passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from edgekit import bundle as bundle_io
from edgekit.compiler.build import Build
from edgekit.compiler.prepare import Prepared
from edgekit.compiler.speed import SPEED_PER_ROUND, SPEED_ROUNDS, SPEED_WARMUP
from edgekit.layout import Layout
from edgekit.parity.compare import GoldenSet
from edgekit.parity.report import ParityReport
from edgekit.precision import EXECUTION_ONLY, Precision
from edgekit.runtimes import runtime_class
from edgekit.timing import batch_one, interleaved, summarize

MIN_GAIN = 0.05  # int8 must be at least 5% faster than the best float: less is within timing noise


def float_alternatives(target: Any) -> list[str]:
    """The float precisions besides fp32 that this target executes natively on this host."""
    from edgekit.native import unsupported_reason

    return [p for p in EXECUTION_ONLY if p in target.precisions and unsupported_reason(p) is None]


def verdict(precision: str, target: str, ms: float, floats_ms: dict[str, float]) -> dict[str, Any]:
    """Whether ``precision`` at ``ms`` beats the fastest float; a WARNING line when it does not."""
    best = min(floats_ms, key=lambda p: floats_ms[p])
    pays = ms < floats_ms[best] * (1 - MIN_GAIN)
    found: dict[str, Any] = {"floats_ms": {p: round(v, 4) for p, v in floats_ms.items()}, "best_float": best,
                             "pays_off": pays}
    if not pays:
        found["payoff_warning"] = (
            f"WARNING: {precision.upper()} DOES NOT PAY FOR ITSELF on {target}: {ms:.3g} ms vs {floats_ms[best]:.3g} "
            f"ms for {best} on this host (needs to be {MIN_GAIN:.0%} faster); ship {best} instead")
    return found


def measure_payoff(build: Build, target: Any, prep: Prepared, staged: bundle_io.Bundle, speed: dict[str, Any],
                   golden: GoldenSet, options: dict[str, Any]) -> dict[str, Any]:
    """Adds the other native float builds' latency to ``speed`` (which holds fp32's) and the verdict."""
    import onnx

    from edgekit import onnxio

    floats = {Precision.FP32.value: speed["fp32_ms"]}
    # The same method and input as the fp32 figure beside it (compiler/speed.py): batch-1 p50.
    feed = batch_one(golden.feeds[0], staged.target_inputs(target.name))
    for alt in float_alternatives(target):
        ref_dir = build.scratch / f"{alt}-{target.name}"
        ref_dir.mkdir(exist_ok=True)
        onnxio.save(onnx.load(str(prep.onnx_path)), ref_dir / Layout.PORTABLE_MODEL)
        entry = target.build(ref_dir / Layout.PORTABLE_MODEL, alt, ref_dir, **{**options, "keep_f32": ()})
        alt_rt = runtime_class(target.name).from_bundle(
            bundle_io.Bundle.staged(ref_dir, staged.manifest["signature"], entry, alt), target.name)
        try:
            samples = interleaved({alt: lambda rt=alt_rt: rt.run(feed)}, SPEED_WARMUP, SPEED_ROUNDS,
                                  SPEED_PER_ROUND)
        finally:
            alt_rt.close()
        floats[alt] = summarize(samples[alt])["p50_ms"]
    return {**speed, **verdict(build.precision, target.name, speed["ms"], floats)}


def with_payoff_note(report: ParityReport, speed: dict[str, Any], say: Callable[[str], None]) -> ParityReport:
    """The pay-off warning becomes the report's first note (second after a random-calibration one)."""
    warning = speed.get("payoff_warning")
    if not warning:
        return report
    say(warning)
    lead = 1 if report.notes and report.notes[0].startswith("WARNING: int8 was calibrated on RANDOM") else 0
    return replace(report, notes=(*report.notes[:lead], warning, *report.notes[lead:]))


def manifest_warning(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Puts the first pay-off warning at the top of the manifest (beside any earlier warning)."""
    warnings = [e["speed"]["payoff_warning"] for e in entries if (e.get("speed") or {}).get("payoff_warning")]
    if not warnings:
        return manifest
    if "warning" in manifest:
        return {"warning": manifest["warning"], "payoff_warning": warnings[0], **manifest}
    return {"warning": warnings[0], **manifest}
