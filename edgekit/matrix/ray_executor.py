"""The Ray executor: each cell is a Ray task that asks for its target's custom resource
(``edgekit-<target>``, advertised by ``edgekit worker``), so it lands only on a node that can
build and time that target. The cell's bundle comes back through the object store as a tar.

Ray is imported only here, on first use: never by ``import edgekit`` or the runtime path.
"""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from edgekit.errors import InputError, TargetUnavailable, one_line
from edgekit.matrix.compiler import ERROR, NO_WORKER, CellResult, cell_folder, run_cell
from edgekit.matrix.local import OnResult
from edgekit.matrix.plan import Cell, ModelPlan, Plan

log = logging.getLogger("edgekit.matrix")
RESOURCE_PREFIX = "edgekit-"


def resource_name(target: str) -> str:
    return f"{RESOURCE_PREFIX}{target}"


def run_ray(plan: Plan, cells: list[Cell], out: Path, on_result: OnResult, address: str,
            max_retries: int = 2, artifacts: Path | None = None) -> list[CellResult]:
    """Runs ``cells`` on the cluster at ``address`` (``ray://HOST:PORT``, ``HOST:PORT`` or ``auto``).

    Cell bundles travel back through the object store, or, with ``artifacts`` (a folder every
    node can write, e.g. a shared file system), are written there by the workers directly.
    """
    ray = _import_ray()
    owned = _connect(ray, address)
    try:
        offered = {k for k, v in ray.cluster_resources().items() if k.startswith(RESOURCE_PREFIX) and v > 0}
        task = ray.remote(_remote_cell)
        refs: dict[Any, Cell] = {}
        results: list[CellResult] = []
        for cell in cells:
            resource = resource_name(cell.target)
            if resource not in offered:
                _emit(CellResult(cell.model, cell.precision, cell.target, NO_WORKER,
                                 message=f"no worker for {cell.target}: no node advertises {resource}"),
                      results, on_result)
                continue
            # One CPU per build: a node runs at most its CPU count of builds, and at most its
            # edgekit-<target> slots of builds of one target.
            ref = task.options(resources={resource: 1}, num_cpus=1, max_retries=max_retries,
                               retry_exceptions=False).remote(plan.model(cell.model), cell, plan.seed,
                                                            None if artifacts is None else str(artifacts))
            refs[ref] = cell
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                cell = refs.pop(ref)
                _emit(_collect(ray, ref, cell, out, max_retries, artifacts), results, on_result)
        return results
    finally:
        if owned:
            ray.shutdown()


def _emit(result: CellResult, results: list[CellResult], on_result: OnResult) -> None:
    results.append(result)
    on_result(result)


def _collect(ray: Any, ref: Any, cell: Cell, out: Path, max_retries: int, artifacts: Path | None) -> CellResult:
    try:
        payload = ray.get(ref)
    except ray.exceptions.RayError as err:  # the worker died more often than it may be retried
        return CellResult(cell.model, cell.precision, cell.target, ERROR,
                          message=f"the worker died building this cell ({max_retries + 1} tries): "
                                  f"{type(err).__name__}: {one_line(err, 300)}")
    result = CellResult.from_dict(payload["result"])
    dest = out / cell_folder(cell)
    if payload["bundle_tar"] is not None:
        _unpack(payload["bundle_tar"], dest)
    elif artifacts is not None and result.bundle and (artifacts / result.bundle).resolve() != dest.resolve():
        import shutil

        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(artifacts / result.bundle, dest)
    return result


def _remote_cell(model: ModelPlan, cell: Cell, seed: int, artifacts: str | None) -> dict[str, Any]:
    """Runs on the worker node: builds the cell into ``artifacts``, or into a scratch folder whose
    bundle is shipped back through the object store."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    if artifacts is not None:
        result = run_cell(model, cell, seed, artifacts)
        result.host["ray_node_id"] = node
        return {"result": result.to_dict(), "bundle_tar": None}
    with tempfile.TemporaryDirectory(prefix="edgekit-matrix-") as scratch:
        result = run_cell(model, cell, seed, scratch)
        result.host["ray_node_id"] = node
        blob = _pack(Path(scratch) / result.bundle) if result.bundle else None
    return {"result": result.to_dict(), "bundle_tar": blob}


def _pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def _unpack(blob: bytes, dest: Path) -> None:
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")  # "data": no links out, no absolute paths


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise TargetUnavailable("--cluster needs Ray", note="pip install 'edgekit[ray]'") from err
    return ray


def _connect(ray: Any, address: str) -> bool:
    """Joins the cluster; True when this call started the connection (and must end it)."""
    if ray.is_initialized():
        return False
    if not address:
        raise InputError("--cluster needs an address", note="ray://HOST:PORT, HOST:PORT, or auto (RAY_ADDRESS)")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise InputError(f"cannot join the Ray cluster at {address}: {one_line(err, 300)}",
                         note="start one with `edgekit worker --head` or give its ray://HOST:PORT") from err
    return True
