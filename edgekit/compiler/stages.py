"""Which stage lost the accuracy: every stage's graph against the original, on the same inputs.

torch → exported ONNX → simplified → quantized → compiled per target. Each is run on the
same first batches of the parity data and compared with the original model under the
bundle's rule; the table says the error each stage added and the first that broke the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.backends.onnxruntime.runtime import OnnxRuntime
from edgekit.compiler.guard import stage_errors
from edgekit.compiler.paritydata import ParityData
from edgekit.parity.compare import compare
from edgekit.parity.metrics import ParityRule

STAGE_SAMPLES = 64
Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def stage_parity(parity: ParityData, reference_description: str, stages: list[tuple[str, Path | Run, str]],
                 output_names: list[str], rule: ParityRule, precision: str) -> list[dict[str, Any]]:
    """One row per stage: max abs error and min cosine vs the original, what it added, pass/fail."""
    chosen, cached_reference = parity.head(STAGE_SAMPLES)
    rows: list[dict[str, Any]] = []
    previous = 0.0
    broken = False
    for name, graph, detail in stages:
        with stage_errors("stage attribution", f"'{name}'"):
            run = OnnxRuntime(graph, optimization="basic").run if isinstance(graph, Path) else graph
            report = compare(cached_reference, run, iter(chosen), output_names, precision, rule,
                             data_description="", reference_description="", candidate_description=name).report
        max_abs = max((m.max_abs for m in report.outputs), default=0.0)
        row = {
            "stage": name, "against": reference_description, "passed": report.passed,
            "max_abs": _finite(max_abs), "added_max_abs": _finite(max_abs - previous),
            "min_cosine": _finite(min((m.min_cosine for m in report.outputs), default=1.0)),
            "detail": detail,
        }
        if not report.passed and not broken:
            broken = True
            row["detail"] = f"FIRST STAGE OVER THE BUDGET ({'; '.join(report.failures)[:200]}). {detail}".strip()
        rows.append(row)
        previous = max_abs
    return rows


def _finite(value: float) -> float | str:
    return float(value) if np.isfinite(value) else str(value)
