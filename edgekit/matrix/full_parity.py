"""The check on a model's large data set (``parity-data`` in the plan): every cell that passed
its build-time parity is compared, over all of that data, with the bundle's fp32 graph — in
units on this machine, or with Ray Data on the nodes that offer the cell's target. A cell that
fails it is failed, with the sharded verdict's reasons; the result lands in ``matrix.json``.

On a cluster the nodes read the data and the cell bundles at the caller's paths: give data on a
shared file system (and ``--out`` on one) when the nodes are other machines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, one_line
from edgekit.layout import Layout
from edgekit.matrix.compiler import FAILED, PASSED, CellResult
from edgekit.matrix.dataset_parity import DatasetJob, local_dataset_parity, ray_dataset_parity
from edgekit.matrix.plan import Plan
from edgekit.matrix.shards import ShardedVerdict

log = logging.getLogger("edgekit.matrix")
BATCH = 64
# A sliver of the target's resource: the evaluation actors sit on nodes that offer the target
# without taking a build slot there.
ACTOR_SHARE = 0.01


def check_on_data(plan: Plan, results: list[CellResult], out: Path, cluster: str | None = None) -> None:
    """Runs the data-set check for every passed cell whose model names ``parity-data`` (in place)."""
    todo = [r for r in results if r.status == PASSED and r.bundle and plan.model(r.model).parity_data]
    if not todo:
        return
    if cluster is None:
        for r in todo:
            _record(r, local_dataset_parity, plan, out)
        return
    from edgekit.matrix.ray_executor import _connect, _import_ray, resource_name

    ray = _import_ray()
    owned = _connect(ray, cluster)
    try:
        for r in todo:
            offering = sum(1 for n in ray.nodes() if n.get("Alive") and n["Resources"].get(resource_name(r.target)))
            actors = max(1, min(plan.model(r.model).parity_shards, offering))
            _record(r, partial(ray_dataset_parity, actors=actors, resources={resource_name(r.target): ACTOR_SHARE}),
                    plan, out)
    finally:
        if owned:
            ray.shutdown()


def _record(result: CellResult, run: Callable[..., ShardedVerdict], plan: Plan, out: Path) -> None:
    from edgekit.parity.report import rule_from_dict

    model = plan.model(result.model)
    bundle = out / str(result.bundle)
    reference = bundle / Layout.REFERENCE_MODEL
    job = DatasetJob(str(reference if reference.is_file() else bundle / Layout.PORTABLE_MODEL), str(bundle),
                     result.target, rule_from_dict((result.parity or {}).get("rule") or {}),
                     model.options.preprocess, BATCH)
    log.info("%s: checking on %s in %d shard(s)", result.key, model.parity_data, model.parity_shards)
    try:
        verdict = run(job, str(model.parity_data), model.parity_shards)
    except EdgekitError as err:
        result.status, result.message = FAILED, f"parity-data check: {one_line(err, 300)}"
        result.dataset_parity = {"data": model.parity_data, "error": one_line(err, 300)}
        return
    result.dataset_parity = summary(verdict, str(model.parity_data), model.parity_shards)
    if not verdict.passed:
        result.status = FAILED
        result.message = f"on parity-data ({verdict.samples} samples): {'; '.join(verdict.failures)[:300]}"


def summary(verdict: ShardedVerdict, data: str, shards: int) -> dict[str, Any]:
    """The JSON-safe record of a sharded verdict for matrix.json."""
    outputs = {name: {"max_abs": m.max_abs, "min_cosine": m.min_cosine, "top1_agreement": m.top1_agreement,
                      "passed": m.passed} for name, m in verdict.outputs.items()}
    accuracy = None if verdict.accuracy is None else {"reference": verdict.accuracy[0],
                                                      "candidate": verdict.accuracy[1]}
    return {"data": data, "shards": shards, "samples": verdict.samples, "passed": verdict.passed,
            "failures": verdict.failures, "outputs": outputs, "accuracy": accuracy}
