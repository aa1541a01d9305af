"""The embedded executor: a process pool on this machine (spawn, so no backend state is forked).
One task per model × precision: its targets are built in one compile (portable stages once).

A cell whose process dies (a model that crashes the interpreter, the OOM killer) breaks the
whole pool, and every task in it with it. Those tasks then run one by one, each in its own
one-process pool, so that only the culprit is charged: it gets ``retries`` more tries before
it is reported as that cell's failure; the rest of the matrix completes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from edgekit.matrix.compiler import ERROR, CellResult, run_group
from edgekit.matrix.plan import Cell, Plan

OnResult = Callable[[CellResult], None]


def run_local(plan: Plan, cells: list[Cell], out: Path, on_result: OnResult, jobs: int = 1,
              retries: int = 1) -> list[CellResult]:
    """Runs ``cells`` with at most ``jobs`` processes; calls ``on_result`` as each finishes."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.model, cell.precision), []).append(cell)
    results: list[CellResult] = []
    broken = _pool_round(plan, list(groups.values()), out, on_result, jobs, results)
    for group in broken:
        for _ in range(retries + 1):
            if not _pool_round(plan, [group], out, on_result, 1, results):
                break
        else:
            for cell in group:
                result = CellResult(cell.model, cell.precision, cell.target, ERROR,
                                    message=f"the worker process died building this cell ({retries + 1} tries)")
                results.append(result)
                on_result(result)
    return results


def _pool_round(plan: Plan, groups: list[list[Cell]], out: Path, on_result: OnResult, jobs: int,
                results: list[CellResult]) -> list[list[Cell]]:
    """One pool over ``groups``; returns the groups lost to a broken pool."""
    lost: list[list[Cell]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=context) as pool:
        futures: dict[Future[list[CellResult]], list[Cell]] = {
            pool.submit(run_group, plan.model(g[0].model), g, plan.seed, str(out)): g for g in groups}
        for future in as_completed(futures):
            try:
                done = future.result()
            except BrokenProcessPool:
                lost.append(futures[future])
                continue
            for result in done:
                results.append(result)
                on_result(result)
    return lost
