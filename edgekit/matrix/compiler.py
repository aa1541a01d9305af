"""The matrix's only door into the compiler: cells (model × precision × target) in,
``CellResult`` out. This is the module to port when the compile pipeline changes shape.

``run_group`` builds the targets of one model × precision that this host can build with ONE
``compile_model`` call (export, simplify and quantize run once; each target is built, checked
and timed); ``run_cell`` builds one target alone (Ray, where each target goes to its own node,
and the fallback when one target's build fails). The portable stages are deterministic, so
every cell of a model × precision carries the same portable graph (checked by hash).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit.layout import Layout
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
    dataset_parity: dict[str, Any] | None = None  # the sharded check on the model's parity-data

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


def group_folder(cell: Cell) -> str:
    """Where the bundle of a model × precision built in one compile goes."""
    return f"cells/{cell.model}/{cell.precision}.edgekit"


def host_facts() -> dict[str, Any]:
    from edgekit.hostinfo import fingerprint

    facts = fingerprint()
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "cpu": facts["cpu"],
            "machine": facts["machine"], "cores": facts["cores"]}


def run_cell(model: ModelPlan, cell: Cell, seed: int, out_root: str | Path) -> CellResult:
    """Builds, checks and times one cell into ``out_root/cell_folder(cell)``; never raises for the
    cell's own failures (they are the cell's result)."""
    return run_group(model, [cell], seed, out_root)[0]


def run_group(model: ModelPlan, cells: list[Cell], seed: int, out_root: str | Path) -> list[CellResult]:
    """Builds the cells of one model × precision in one compile (portable stages once); a
    target that fails to build sends the others back to one compile each, so it fails alone."""
    from edgekit.errors import EdgekitError, one_line
    from edgekit.targets import TargetBuildError, get_target

    start, host = time.perf_counter(), host_facts()
    results: dict[Cell, CellResult] = {}
    todo = []
    for cell in cells:
        reason = get_target(cell.target).probe()
        if reason is None:
            try:  # a precision the target refuses (bf16 on cpu) fails its cell alone, not the group
                get_target(cell.target).check_precision(cell.precision)
            except EdgekitError as err:
                results[cell] = _error(cell, host, one_line(err, 400))
                continue
            todo.append(cell)
        else:
            results[cell] = CellResult(cell.model, cell.precision, cell.target, NO_WORKER, host=host,
                                       message=f"no worker for {cell.target}: {reason}")
    if todo:
        rel = cell_folder(todo[0]) if len(todo) == 1 else group_folder(todo[0])
        try:
            results.update(_compile(model, todo, seed, Path(out_root), rel))
        except TargetBuildError as err:
            if len(todo) == 1:
                results[todo[0]] = _error(todo[0], host, one_line(err, 400))
            else:  # build each target alone, so that only the one that broke fails
                results.update({c: run_cell(model, c, seed, out_root) for c in todo})
        except EdgekitError as err:
            results.update({c: _error(c, host, one_line(err, 400)) for c in todo})
        except Exception as err:  # noqa: BLE001 - a crashing model is its cells' failure, not the matrix's
            log.debug("cells %s crashed", [c.key for c in todo], exc_info=True)
            results.update({c: _error(c, host, f"{type(err).__name__}: {one_line(err, 400)}") for c in todo})
    seconds = (time.perf_counter() - start) / max(len(todo), 1)
    for result in results.values():
        result.host = result.host or host
        result.seconds = result.seconds or (0.0 if result.status == NO_WORKER else seconds)
    return [results[c] for c in cells]


def _error(cell: Cell, host: dict[str, Any], message: str) -> CellResult:
    return CellResult(cell.model, cell.precision, cell.target, ERROR, message=message, host=host)


def _compile(model: ModelPlan, cells: list[Cell], seed: int, root: Path, rel: str) -> dict[Cell, CellResult]:
    from edgekit.bench import BenchOptions, _key_metric, measure
    from edgekit.compiler.pipeline import compile_model

    out = root / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    opts = replace(model.options, target=tuple(c.target for c in cells), precision=cells[0].precision, out=out,
                   force=True, seed=seed)
    art = compile_model(model.model, None, opts, log.debug)
    files = art.manifest.get("files", {})
    results = {}
    for cell in cells:
        report = art.reports[cell.target]
        speed = measure(str(art.path), cell.target, BenchOptions(**BENCH))
        results[cell] = CellResult(
            cell.model, cell.precision, cell.target, PASSED if report.passed else FAILED,
            message="; ".join(report.failures), key_metric=_key_metric(report.to_dict()),
            p50_ms=speed["p50_ms"], size_bytes=target_size(art.manifest, cell.target), bundle=rel,
            portable_sha256=(files.get(Layout.PORTABLE_MODEL) or {}).get("sha256"), parity=report.to_dict(),
        )
    return results


def target_size(manifest: dict[str, Any], target: str) -> int:
    """Bytes a one-target bundle would ship: every file but those of the other targets."""
    others = {f for t in manifest["targets"] if t["name"] != target for f in t["files"].values()}
    return sum(int(v["size"]) for k, v in manifest["files"].items() if k not in others)
