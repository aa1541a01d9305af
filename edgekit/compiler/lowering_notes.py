"""What a reader of the report must know about how a lowered artifact was made: calibration
warnings, nodes that stayed float, the recipe table and the node fallback — warnings first."""

from __future__ import annotations

import numpy as np

from edgekit.compiler.lowering import Lowered
from edgekit.compiler.paritydata import ParityData
from edgekit.compiler.prequant import no_node_reason
from edgekit.compiler.quantize import record_hashes
from edgekit.data.sources import DataSource
from edgekit.precision import INT8_PRECISIONS


def report_notes(lowered: Lowered | None, calib: list[dict[str, np.ndarray]],
                 parity: ParityData, eval_source: DataSource | None) -> tuple[str, ...]:
    """What a reader of the report must know about how the artifact was made, warnings first."""
    if lowered is None:
        return ()
    notes = _calibration_notes(lowered, calib, parity, eval_source)
    inside = lowered.subgraph_float_nodes
    if lowered.summary["precision"] in INT8_PRECISIONS and not lowered.summary["quantized_nodes"]:
        notes.append(f"WARNING: {lowered.summary['precision']} quantized no node ({no_node_reason(lowered.path)}); "
                     "the artifact computes in float")
    if inside:
        notes.append(f"{len(inside)} compute node(s) inside If/Loop/Scan subgraphs stayed float: "
                     + ", ".join(inside[:10]) + (" …" if len(inside) > 10 else ""))
    notes += lowered.summary["notes"]
    return tuple(notes + _search_notes(lowered))


def _calibration_notes(lowered: Lowered, calib: list[dict[str, np.ndarray]], parity: ParityData,
                       eval_source: DataSource | None) -> list[str]:
    """Warnings about the calibration data: random, or shared with the evaluation data."""
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
    return notes


def _search_notes(lowered: Lowered) -> list[str]:
    """The recipe table and what the node fallback left in float."""
    notes = []
    rows = [t.to_dict() for t in lowered.search.table] if lowered.search else []
    if rows:
        table = "; ".join(f"{r['recipe']}: " + (r["error"] or f"calibration error {r['calib_error']:.4g}"
                          + ("" if r["eval_passed"] is None else f", eval {'pass' if r['eval_passed'] else 'FAIL'}"))
                          for r in rows)
        notes.append(f"recipe search tried {len(rows)} recipe(s) and kept '{lowered.recipe}' — {table}")
    history, left, kept = lowered.history, lowered.summary["fallback_nodes"], lowered.report
    if len(history) > 1 and left:
        kept_cos = min((m.min_cosine for m in kept.outputs), default=1.0) if kept is not None else 0.0
        notes.append(
            f"accuracy-aware fallback left {len(left)} node(s) in float ({', '.join(left)}); "
            f"parity before: {'passed' if history[0]['passed'] else 'failed'} (min cosine "
            f"{history[0]['min_cosine']:.5f}), kept: {'passed' if kept and kept.passed else 'failed'} "
            f"(min cosine {kept_cos:.5f})"
        )
    return notes
