"""Sharded parity: each worker loads the runtimes once and evaluates shards of a large data set
into ``ShardAccumulator`` states; the caller merges them exactly into one verdict.

The reference is an fp32 ONNX graph run by onnxruntime without graph optimisation (as
``edgekit check --against model.onnx`` does), the candidate a bundle's target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.matrix.accumulate import ConfusionCounts, ShardAccumulator
from edgekit.parity.metrics import OutputMetrics, ParityRule

Shard = tuple[dict[str, np.ndarray], np.ndarray | None]  # (inputs keyed by name, labels or None)


class ShardEvaluator:
    """Holds both runtimes (loaded once) and turns shards into mergeable states."""

    def __init__(self, reference_onnx: str, bundle: str, target: str | None = None, batch: int = 64) -> None:
        from edgekit.backends.onnxruntime.runtime import OnnxRuntime
        from edgekit.runtimes import load

        self.reference = OnnxRuntime(Path(reference_onnx), optimization="none")
        self.candidate = load(bundle, target, accept_failed=True)
        self.batch = batch

    def evaluate(self, shard: Shard, rule: ParityRule) -> dict[str, Any]:
        feeds, labels = shard
        size = len(next(iter(feeds.values())))
        accs: dict[str, ShardAccumulator] = {}
        confusion: ConfusionCounts | None = None
        for start in range(0, size, self.batch):
            feed = {k: v[start:start + self.batch] for k, v in feeds.items()}
            ref, cand = self.reference.run(feed), self.candidate.run(feed)
            n = len(next(iter(feed.values())))
            for name, r in ref.items():
                accs.setdefault(name, ShardAccumulator(name, rule)).add(r, cand[name], n)
            if labels is not None:
                name = next(iter(ref))
                confusion = confusion or ConfusionCounts(ref[name].shape[-1])
                confusion.add(labels[start:start + self.batch], ref[name], cand[name])
        return {"outputs": {k: a.state() for k, a in accs.items()},
                "confusion": confusion.state() if confusion else None, "samples": size}


@dataclass(frozen=True)
class ShardedVerdict:
    """The merged result: per-output metrics, accuracy (if labelled), histograms, and the verdict."""

    outputs: dict[str, OutputMetrics]
    histograms: dict[str, list[int]]
    samples: int
    accuracy: tuple[float, float] | None
    rule: ParityRule

    @property
    def failures(self) -> list[str]:
        found = [f"{m.name}: {f}" for m in self.outputs.values() for f in m.failures]
        if self.accuracy is not None and self.rule.max_accuracy_drop is not None:
            drop = self.accuracy[0] - self.accuracy[1]
            if drop > self.rule.max_accuracy_drop:
                found.append(f"accuracy dropped {drop:.2f} points, limit {self.rule.max_accuracy_drop}")
        return found

    @property
    def passed(self) -> bool:
        return not self.failures


def merge_states(states: Iterable[dict[str, Any]], rule: ParityRule) -> ShardedVerdict:
    """Merges shard states (in any order) into one verdict."""
    accs: dict[str, ShardAccumulator] = {}
    confusion: ConfusionCounts | None = None
    samples = 0
    for state in states:
        samples += int(state.get("samples", 0))
        for name, data in state["outputs"].items():
            acc = ShardAccumulator.from_state(data, rule)
            if name in accs:
                accs[name].merge(acc)
            else:
                accs[name] = acc
        if state["confusion"] is not None:
            c = ConfusionCounts.from_state(state["confusion"])
            if confusion is None:
                confusion = c
            else:
                confusion.merge(c)
    return ShardedVerdict(
        outputs={n: a.result() for n, a in accs.items()},
        histograms={n: list(a.histogram) for n, a in accs.items()},
        samples=samples,
        accuracy=confusion.accuracy() if confusion else None,
        rule=rule,
    )


def split(feeds: dict[str, np.ndarray], labels: np.ndarray | None, shards: int) -> list[Shard]:
    """Cuts a data set into ``shards`` contiguous shards (uneven sizes are fine)."""
    size = len(next(iter(feeds.values())))
    bounds = np.linspace(0, size, shards + 1).astype(int)
    return [({k: v[a:b] for k, v in feeds.items()}, None if labels is None else labels[a:b])
            for a, b in zip(bounds[:-1], bounds[1:])]


def ray_sharded_parity(reference_onnx: str, bundle: str, feeds: dict[str, np.ndarray], labels: np.ndarray | None,
                       rule: ParityRule, *, shards: int, actors: int, target: str | None = None,
                       resources: dict[str, float] | None = None) -> ShardedVerdict:
    """Evaluates ``shards`` shards on a pool of ``actors`` Ray actors (each loads the runtimes once).

    Needs a connected Ray (``ray.init``) whose nodes can read ``reference_onnx`` and ``bundle``.
    """
    import ray
    from ray.util import ActorPool

    actor_cls = ray.remote(ShardEvaluator).options(num_cpus=0, resources=resources or {})
    pool = ActorPool([actor_cls.remote(reference_onnx, bundle, target) for _ in range(actors)])
    states = list(pool.map_unordered(lambda a, s: a.evaluate.remote(s, rule), split(feeds, labels, shards)))
    return merge_states(states, rule)
