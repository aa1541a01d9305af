""""What to try next" when parity fails: concrete flags, chosen from what the bundle records."""

from __future__ import annotations

from typing import Any

from edgekit.parity.report import ParityReport
from edgekit.precision import Precision

CALIB_METHODS = ("minmax", "entropy", "percentile")  # = compiler.options.CALIB_METHODS (a layer above)


def next_steps(report: ParityReport, manifest: dict[str, Any]) -> list[str]:
    """Ordered suggestions for a failed report (empty when it passed)."""
    if report.passed:
        return []
    quant = manifest.get("quantization") or {}
    calib = quant.get("calibration") or {}
    steps = []
    precision = Precision(report.precision)
    if precision is Precision.INT8:
        if calib.get("random"):
            steps.append("calibrate on real samples of what the model will see: --calib DATA "
                         "(this build was calibrated on random inputs)")
        method = calib.get("method", "minmax")
        others = [m for m in CALIB_METHODS if m != method]
        steps.append(f"another calibration method: --calib-method {others[0]} or {others[1]} (used: {method})")
        steps.append("more calibration samples: --calib-samples 512")
        steps.append("weights-only quantization, no calibration: --precision int8-dynamic")
    if precision.is_int8:
        steps.append("keep the sensitive layers in float: leave fallback on (no --no-fallback); "
                     "find them with `edgekit check BUNDLE --layers` (compile with --keep-fp32)")
    if precision is Precision.FP16:
        steps.append("find the layer that overflows or loses precision: compile with --keep-fp32, then "
                     "`edgekit check BUNDLE --layers`")
    if precision is Precision.FP32:
        steps.append("try the other exporter (--exporter torchscript or dynamo) and --no-simplify, "
                     "to see which stage changed the numbers (see the stage table)")
    steps.append("if the rule is stricter than your task needs: set your own with --atol/--rtol/--min-cosine/"
                 "--min-top1 (per output: --atol NAME=N) or --metric package.module:function")
    return steps
