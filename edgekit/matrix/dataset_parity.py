"""Parity over a large data set given as files, sharded with Ray Data: the data set is cut into
units (``data/units.py``), a Ray Data pipeline maps them over a pool of actors that each load
the reference graph and the bundle's runtime once, and the per-unit accumulator states merge
exactly (``matrix/accumulate.py``) into the verdict a single process computes over the same
units (``local_dataset_parity``, the baseline the tests compare against).

States travel as JSON text, never pickles. Ray (with its ``data`` extra) is imported only here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edgekit.data.units import Unit, open_unit, split_units
from edgekit.matrix.shards import ShardedVerdict, ShardEvaluator, merge_states
from edgekit.parity.metrics import ParityRule


@dataclass(frozen=True)
class DatasetJob:
    """What every worker needs to evaluate units: both graphs, the target, the rule, the batching."""

    reference_onnx: str
    bundle: str
    target: str | None
    rule: ParityRule
    preprocess: str | None = None
    batch: int = 64


class UnitEvaluator:
    """A Ray Data callable class: loads both runtimes once per actor, turns a batch of unit rows
    into one JSON state per unit."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = DatasetJob(**{**job, "rule": ParityRule(**job["rule"])})
        self.evaluator = ShardEvaluator(self.job.reference_onnx, self.job.bundle, self.job.target, self.job.batch)

    def __call__(self, rows: dict[str, Any]) -> dict[str, list[str]]:
        """One row per unit: the JSON list of its batches' states."""
        return {"states": [json.dumps(evaluate_unit(self.evaluator, json.loads(str(u)), self.job))
                           for u in rows["unit"]]}


def evaluate_unit(evaluator: ShardEvaluator, unit: Unit, job: DatasetJob) -> list[dict[str, Any]]:
    """One unit's mergeable states, one per batch: its records grouped into feeds that fit the
    bundle, each compared reference vs candidate (``merge_states`` folds them with all others)."""
    from edgekit.data.sources import batches

    return [evaluator.evaluate((batch.feed, batch.labels), job.rule)
            for batch in batches(open_unit(unit, job.preprocess), evaluator.candidate.inputs, job.batch)]


def local_dataset_parity(job: DatasetJob, data: str, units: int) -> ShardedVerdict:
    """The same units evaluated one after another in this process: the single-machine verdict."""
    evaluator = ShardEvaluator(job.reference_onnx, job.bundle, job.target, job.batch)
    units_ = split_units(data, units, job.preprocess)
    return merge_states((s for u in units_ for s in evaluate_unit(evaluator, u, job)), job.rule)


def ray_dataset_parity(job: DatasetJob, data: str, units: int, actors: int,
                       resources: dict[str, float] | None = None) -> ShardedVerdict:
    """The units mapped over ``actors`` Ray Data actors (placed on nodes offering ``resources``).

    Needs a connected Ray (``ray.init``) whose nodes can read ``data``, the reference graph and the bundle.
    """
    import ray.data

    rows = [{"unit": json.dumps(u)} for u in split_units(data, units, job.preprocess)]
    payload = {**job.__dict__, "rule": job.rule.to_dict()}
    placement = {"resources": resources} if resources else {}
    states = (ray.data.from_items(rows)
              .map_batches(UnitEvaluator, fn_constructor_kwargs={"job": payload}, batch_size=1,
                           compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=0, **placement)
              .take_all())
    return merge_states((state for row in states for state in json.loads(row["states"])), job.rule)
