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
from edgekit.matrix.compiler import ERROR, NO_WORKER, CellResult, run_group
from edgekit.matrix.local import OnResult
from edgekit.matrix.plan import Cell, ModelPlan, Plan

log = logging.getLogger("edgekit.matrix")
RESOURCE_PREFIX = "edgekit-"


def resource_name(target: str) -> str:
    return f"{RESOURCE_PREFIX}{target}"


def run_ray(plan: Plan, cells: list[Cell], out: Path, on_result: OnResult, address: str,
            max_retries: int = 2, artifacts: Path | None = None) -> list[CellResult]:
    """Runs ``cells`` on the cluster at ``address`` (``ray://HOST:PORT``, ``HOST:PORT`` or ``auto``).

    The cells of one model × precision are one task (one compile, portable stages once) when a
    node offers all their targets; otherwise each cell is its own task on a node offering its
    target. Bundles travel back through the object store, or, with ``artifacts`` (a folder every
    node can write, e.g. a shared file system), are written there by the workers directly.
    """
    ray = _import_ray()
    owned = _connect(ray, address)
    try:
        nodes = [{k for k, v in n["Resources"].items() if k.startswith(RESOURCE_PREFIX) and v > 0}
                 for n in ray.nodes() if n.get("Alive")]
        offered = set().union(*nodes) if nodes else set()
        task = ray.remote(_remote_group)
        refs: dict[Any, list[Cell]] = {}
        results: list[CellResult] = []
        for group in _groups(cells):
            for cell in [c for c in group if resource_name(c.target) not in offered]:
                _emit(CellResult(cell.model, cell.precision, cell.target, NO_WORKER,
                                 message=f"no worker for {cell.target}: no node advertises "
                                         f"{resource_name(cell.target)}"), results, on_result)
            todo = [c for c in group if resource_name(c.target) in offered]
            needed = {resource_name(c.target) for c in todo}
            units = [todo] if todo and any(needed <= n for n in nodes) else [[c] for c in todo]
            for unit in units:
                # One CPU per task: a node runs at most its CPU count of builds, and at most its
                # edgekit-<target> slots of builds of one target.
                ref = task.options(resources={resource_name(c.target): 1 for c in unit}, num_cpus=1,
                                   max_retries=max_retries, retry_exceptions=False).remote(
                    plan.model(unit[0].model), unit, plan.seed, None if artifacts is None else str(artifacts))
                refs[ref] = unit
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                for result in _collect(ray, ref, refs.pop(ref), out, max_retries, artifacts):
                    _emit(result, results, on_result)
        return results
    finally:
        if owned:
            ray.shutdown()


def _groups(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.model, cell.precision), []).append(cell)
    return list(groups.values())


def _emit(result: CellResult, results: list[CellResult], on_result: OnResult) -> None:
    results.append(result)
    on_result(result)


def _collect(ray: Any, ref: Any, unit: list[Cell], out: Path, max_retries: int,
             artifacts: Path | None) -> list[CellResult]:
    try:
        payload = ray.get(ref)
    except ray.exceptions.RayError as err:  # the worker died more often than it may be retried
        return [CellResult(c.model, c.precision, c.target, ERROR,
                           message=f"the worker died building this cell ({max_retries + 1} tries): "
                                   f"{type(err).__name__}: {one_line(err, 300)}") for c in unit]
    for rel, blob in payload["bundles"].items():
        dest = out / rel
        if blob is not None:
            _unpack(blob, dest)
        elif artifacts is not None and (artifacts / rel).resolve() != dest.resolve():
            import shutil

            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(artifacts / rel, dest)
    return [CellResult.from_dict(d) for d in payload["results"]]


def _remote_group(model: ModelPlan, cells: list[Cell], seed: int, artifacts: str | None) -> dict[str, Any]:
    """Runs on the worker node: builds the cells into ``artifacts``, or into a scratch folder whose
    bundles are shipped back through the object store."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    with tempfile.TemporaryDirectory(prefix="edgekit-matrix-") as scratch:
        results = run_group(model, cells, seed, artifacts or scratch)
        rels = sorted({r.bundle for r in results if r.bundle})
        bundles = {rel: None if artifacts else _pack(Path(scratch) / rel) for rel in rels}
    for result in results:
        result.host["ray_node_id"] = node
    return {"results": [r.to_dict() for r in results], "bundles": bundles}


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
