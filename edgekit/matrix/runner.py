"""``edgekit matrix``: run a plan's cells on an executor, merge what passed, write the report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import InputError
from edgekit.matrix.compiler import PASSED, CellResult
from edgekit.matrix.plan import Plan
from edgekit.matrix.report import matrix_document, required_failures, write_matrix_reports

log = logging.getLogger("edgekit.matrix")
OnResult = Callable[[CellResult], None]


@dataclass(frozen=True)
class MatrixResult:
    """Every cell's result, the report document, and the merged bundles (model/precision → path)."""

    out: Path
    cells: list[CellResult]
    document: dict[str, Any]

    @property
    def required_failures(self) -> list[str]:
        return list(self.document["required_failures"])


def run_matrix(plan: Plan, out: str | Path, *, jobs: int = 1, cluster: str | None = None,
               on_result: OnResult | None = None, max_retries: int = 2,
               artifacts: str | Path | None = None) -> MatrixResult:
    """Runs every cell of ``plan`` into ``out`` (locally, or on the Ray cluster at ``cluster``;
    ``artifacts``: a folder every Ray node writes cell bundles to instead of the object store)."""
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    if jobs < 1 or max_retries < 0:
        raise InputError(f"--jobs must be >= 1 and --max-retries >= 0, not {jobs} and {max_retries}")
    if artifacts is not None and cluster is None:
        raise InputError("--artifacts applies to --cluster runs", note="a local run writes into --out")
    cells = plan.cells()
    say = on_result or (lambda _r: None)
    if cluster is None:
        from edgekit.matrix.local import run_local

        results, executor = run_local(plan, cells, out_path, say, jobs=jobs), "local process pool"
    else:
        from edgekit.matrix.ray_executor import run_ray

        results = run_ray(plan, cells, out_path, say, address=cluster, max_retries=max_retries,
                          artifacts=Path(artifacts) if artifacts is not None else None)
        executor = f"ray ({cluster})"
    from edgekit.matrix.full_parity import check_on_data

    check_on_data(plan, results, out_path, cluster)
    order = {c.key: i for i, c in enumerate(cells)}
    results.sort(key=lambda r: order[r.key])
    bundles, notes = _merge(results, out_path)
    doc = matrix_document(results, plan_origin=plan.origin, executor=executor, required=plan.required,
                          bundles=bundles, notes=notes)
    write_matrix_reports(out_path, doc)
    return MatrixResult(out_path, results, doc)


def _merge(results: list[CellResult], out: Path) -> tuple[dict[str, str], list[str]]:
    """One bundle per model × precision holding every target that passed."""
    from edgekit.errors import EdgekitError
    from edgekit.matrix.merge import merge_bundles

    groups: dict[str, list[CellResult]] = {}
    for r in results:
        if r.status == PASSED and r.bundle:
            groups.setdefault(f"{r.model}/{r.precision}", []).append(r)
    bundles, notes = {}, []
    (out / "bundles").mkdir(exist_ok=True)
    for key, group in groups.items():
        model, precision = key.split("/")
        dest = out / "bundles" / f"{model}-{precision}.edgekit"
        try:
            merge_bundles([(out / r.bundle, r.target, r.host) for r in group if r.bundle], dest)
        except EdgekitError as err:
            notes.append(f"{key}: not merged: {err}")
            continue
        bundles[key] = dest.relative_to(out).as_posix()
    return bundles, notes


__all__ = ["MatrixResult", "required_failures", "run_matrix"]
