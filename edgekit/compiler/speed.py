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
from edgekit.timing import median_latency

Feed = dict[str, np.ndarray]
Log = Callable[[str], None]


def time_runtime(run: Callable[[Feed], Any], feed: Feed, repeats: int = 20) -> float:
    """Median milliseconds of ``run(feed)`` after a short warm-up (in this process; see
    docs/ARCHITECTURE.md on moving this verdict to child processes)."""
    return median_latency(lambda: run(feed), repeats)


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
    feed = golden.feeds[0]
    fp32_rt = runtime_class(target.name).from_bundle(fp32_bundle, target.name)
    fp32_ms, ms = time_runtime(fp32_rt.run, feed), time_runtime(runtime.run, feed)
    fp32_rt.close()
    return {"fp32_ms": round(fp32_ms, 4), "ms": round(ms, 4), "ratio_to_fp32": round(ms / fp32_ms, 3),
            "input_shapes": {k: list(v.shape) for k, v in feed.items()}}


def with_speed_note(report: ParityReport, target: str, speed: dict[str, Any], say: Log) -> ParityReport:
    ratio = speed["ratio_to_fp32"]
    if ratio <= 1.05:
        note = f"{report.precision} runs at {ratio:.2f}x the latency of fp32 on {target} here"
    else:
        note = (f"WARNING: SLOWER THAN FP32: {report.precision} on {target} takes {ratio:.2f}x the latency of "
                f"fp32 on this host ({speed['ms']:.3g} ms vs {speed['fp32_ms']:.3g} ms)")
        say(note)
    return replace(report, notes=(*report.notes, note))
