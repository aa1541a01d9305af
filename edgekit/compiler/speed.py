"""Speed honesty: a lower precision must not silently make a model slower on its target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import bundle as bundle_io
from edgekit.compiler.prepare import Prepared
from edgekit.layout import Layout
from edgekit.parity.compare import GoldenSet
from edgekit.parity.report import ParityReport
from edgekit.runtimes import runtime_class
from edgekit.timing import batch_one, interleaved, summarize, threads_label

Feed = dict[str, np.ndarray]
Log = Callable[[str], None]


# Small on purpose: the verdict runs inside every quantized compile (the test suite's included).
SPEED_ROUNDS, SPEED_PER_ROUND, SPEED_WARMUP = 4, 10, 3


def measure_speed(target: Any, prep: Prepared, staged: bundle_io.Bundle, runtime: Any, scratch: Path,
                  golden: GoldenSet, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Times this target's artifact against an fp32 build of the same target (same target options),
    on the same input. The fp32 graph is laid out as in a bundle, for targets that list it."""
    import onnx

    from edgekit import onnxio

    ref_dir = scratch / f"fp32-{target.name}"
    ref_dir.mkdir(exist_ok=True)
    onnxio.save(onnx.load(str(prep.onnx_path)), ref_dir / Layout.PORTABLE_MODEL)
    entry = target.build(ref_dir / Layout.PORTABLE_MODEL, "fp32", ref_dir, **(options or {}))
    fp32_bundle = bundle_io.Bundle.staged(ref_dir, staged.manifest["signature"], entry, "fp32")
    # bench's method: batch-1 calls, p50, each backend's default threads; the two take turns.
    feed = batch_one(golden.feeds[0], staged.target_inputs(target.name))
    fp32_rt = runtime_class(target.name).from_bundle(fp32_bundle, target.name)
    try:
        samples = interleaved({"fp32": lambda: fp32_rt.run(feed), "candidate": lambda: runtime.run(feed)},
                              SPEED_WARMUP, SPEED_ROUNDS, SPEED_PER_ROUND)
    finally:
        fp32_rt.close()
    fp32_ms, ms = summarize(samples["fp32"])["p50_ms"], summarize(samples["candidate"])["p50_ms"]
    return {"fp32_ms": round(fp32_ms, 4), "ms": round(ms, 4), "ratio_to_fp32": round(ms / fp32_ms, 3),
            "batch": 1, "threads": None, "method": "p50 of interleaved batch-1 calls",
            "input_shapes": {k: list(v.shape) for k, v in feed.items()}}


def with_speed_note(report: ParityReport, target: str, speed: dict[str, Any], say: Log) -> ParityReport:
    ratio = speed["ratio_to_fp32"]
    where = f"batch {speed.get('batch', '?')}, {threads_label(speed.get('threads'))}"
    if ratio <= 1.05:
        note = (f"{report.precision} runs at {ratio:.2f}x the latency of fp32 on {target} here "
                f"({speed['ms']:.3g} ms vs {speed['fp32_ms']:.3g} ms p50, {where})")
    else:
        note = (f"WARNING: SLOWER THAN FP32: {report.precision} on {target} takes {ratio:.2f}x the latency of "
                f"fp32 on this host ({speed['ms']:.3g} ms vs {speed['fp32_ms']:.3g} ms p50, {where})")
        say(note)
    return replace(report, notes=(*report.notes, note))


def own_speed(runtime: Any, staged: bundle_io.Bundle, target: str, golden: GoldenSet) -> dict[str, Any]:
    """This target's batch-1 p50 alone (no fp32 twin to compare): with several targets in one
    bundle, ``load`` uses it to prefer the one that ran fastest on this host class."""
    feed = batch_one(golden.feeds[0], staged.target_inputs(target))
    samples = interleaved({"candidate": lambda: runtime.run(feed)}, SPEED_WARMUP, SPEED_ROUNDS, SPEED_PER_ROUND)
    return {"ms": round(summarize(samples["candidate"])["p50_ms"], 4), "batch": 1, "threads": None,
            "method": "p50 of interleaved batch-1 calls", "input_shapes": {k: list(v.shape) for k, v in feed.items()}}
