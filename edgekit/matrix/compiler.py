"""The matrix's only door into the compiler: one cell (model × precision × target) in, a
``CellResult`` out.

This is the module to port when the compile pipeline changes shape. Today each cell is one
``compile_model`` call for one target, so the portable stages (export, simplify, quantize)
run once per cell rather than once per model × precision; their outputs are deterministic,
so every cell of a model × precision carries the same portable graph (checked by hash).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit.matrix.plan import Cell, ModelPlan

log = logging.getLogger("edgekit.matrix")

PASSED, FAILED, ERROR, NO_WORKER = "passed", "failed", "error", "no-worker"
STATUSES = (PASSED, FAILED, ERROR, NO_WORKER)
# A short timing run: the matrix compares cells, it does not replace ``edgekit bench``.
BENCH = {"warmup": 3, "iterations": 50, "time_budget_s": 1.0, "batch": 1}


@dataclass
class CellResult:
    """What one cell produced, as plain data that crosses process and node boundaries."""

    model: str
    precision: str
    target: str
    status: str
    message: str = ""
    key_metric: str = ""
    p50_ms: float | None = None
    size_bytes: int | None = None
    bundle: str | None = None  # relative to the matrix output folder
    portable_sha256: str | None = None
    seconds: float = 0.0
    host: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.model}/{self.precision}/{self.target}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        return cls(**data)


def cell_folder(cell: Cell) -> str:
    """Where a cell's bundle goes, relative to the output folder."""
    return f"cells/{cell.model}/{cell.precision}/{cell.target}.edgekit"


def host_facts() -> dict[str, Any]:
    from edgekit.hostinfo import fingerprint

    facts = fingerprint()
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "cpu": facts["cpu"],
            "machine": facts["machine"], "cores": facts["cores"]}


def run_cell(model: ModelPlan, cell: Cell, seed: int, out_root: str | Path) -> CellResult:
    """Builds, checks and times one cell into ``out_root/cell_folder(cell)``; never raises for the
    cell's own failures (they are the cell's result)."""
    from edgekit.errors import EdgekitError, one_line
    from edgekit.targets import get_target

    start = time.perf_counter()
    base = CellResult(cell.model, cell.precision, cell.target, ERROR, host=host_facts())
    reason = get_target(cell.target).probe()
    if reason is not None:
        base.status, base.message = NO_WORKER, f"no worker for {cell.target}: {reason}"
        return base
    rel = cell_folder(cell)
    try:
        result = _compile(model, cell, seed, Path(out_root) / rel)
    except EdgekitError as err:
        base.message = one_line(err, 400)
    except Exception as err:  # noqa: BLE001 - a crashing model is its cell's failure, not the matrix's
        log.debug("cell %s crashed", cell.key, exc_info=True)
        base.message = f"{type(err).__name__}: {one_line(err, 400)}"
    else:
        result.bundle, result.host = rel, base.host
        base = result
    base.seconds = time.perf_counter() - start
    return base


def _compile(model: ModelPlan, cell: Cell, seed: int, out: Path) -> CellResult:
    from edgekit.bench import BenchOptions, _key_metric, measure
    from edgekit.compile.pipeline import compile_model
    from edgekit.inspect import bundle_size

    out.parent.mkdir(parents=True, exist_ok=True)
    art = compile_model(
        model.model, target=[cell.target], precision=cell.precision, inputs=list(model.inputs),
        dynamic=list(model.dynamic), weights=model.weights, eval_data=model.eval_data, out=out, force=True,
        exporter=model.exporter, opset=model.opset, simplify=model.simplify, seed=seed, calibration=model.calib,
        calib_method=model.calib_method, calib_samples=model.calib_samples, preprocess=model.preprocess,
        max_accuracy_drop=model.max_accuracy_drop, fallback=model.fallback,
    )
    report = art.reports[cell.target]
    speed = measure(str(art.path), cell.target, BenchOptions(**BENCH))
    files = art.manifest.get("files", {})
    return CellResult(
        cell.model, cell.precision, cell.target, PASSED if report.passed else FAILED,
        message="; ".join(report.failures), key_metric=_key_metric(report.to_dict()),
        p50_ms=speed["p50_ms"], size_bytes=bundle_size(art.path),
        portable_sha256=(files.get("model.onnx") or {}).get("sha256"), parity=report.to_dict(),
    )
