"""Parity metrics that shard: accumulators whose merge is exact, so a verdict computed over
shards (on several processes or nodes) equals the single-process one, bit for bit.

Counts, minima and maxima merge exactly by nature. Floating-point sums do not (their value
depends on the order of additions), so sums are kept as Shewchuk partials (the algorithm
behind ``math.fsum``): a list of non-overlapping floats that represents the sum *exactly*;
merging concatenates partials, and the final value is the correctly rounded exact sum,
whatever the sharding. Pure numpy + stdlib; the state serialises to JSON-safe dicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgekit.parity.metrics import OutputAccumulator, OutputMetrics, ParityRule

# Absolute-error histogram: decades from 1e-9 to 1e3, plus under/overflow bins.
HIST_EDGES = tuple(10.0 ** e for e in range(-9, 4))


@dataclass
class ExactSum:
    """An exactly mergeable float sum (Shewchuk partials)."""

    partials: list[float] = field(default_factory=list)

    def add_many(self, values: np.ndarray) -> None:
        for x in np.asarray(values, dtype=np.float64).ravel().tolist():
            self._add(x)

    def _add(self, x: float) -> None:
        kept = []
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                kept.append(lo)
            x = hi
        kept.append(x)
        self.partials = kept

    def merge(self, other: ExactSum) -> None:
        for x in other.partials:
            self._add(x)

    @property
    def value(self) -> float:
        return math.fsum(self.partials)


class ShardAccumulator(OutputAccumulator):
    """``OutputAccumulator`` with exact sums, an error histogram, and ``merge``/``state``."""

    def __init__(self, name: str, rule: ParityRule) -> None:
        super().__init__(name, rule)
        self.sums = {"abs": ExactSum(), "signal": ExactSum(), "noise": ExactSum()}
        self.histogram = [0] * (len(HIST_EDGES) + 1)

    def add(self, ref: np.ndarray, cand: np.ndarray, batch: int | None) -> None:
        # The parent's float sums are order-dependent; recompute them exactly per batch instead.
        super().add(ref, cand, batch)
        if ref.shape != cand.shape:
            return
        r64, c64 = ref.astype(np.float64), cand.astype(np.float64)
        finite = np.isfinite(r64) & np.isfinite(c64)
        r, c = np.where(finite, r64, 0.0), np.where(finite, c64, 0.0)
        diff = np.abs(r - c)
        self.sums["abs"].add_many(diff)
        self.sums["signal"].add_many(r * r)
        self.sums["noise"].add_many(diff * diff)
        counts = np.bincount(np.searchsorted(HIST_EDGES, diff.ravel(), side="right"),
                             minlength=len(self.histogram))
        self.histogram = [a + int(b) for a, b in zip(self.histogram, counts)]

    def merge(self, other: ShardAccumulator) -> None:
        """Folds another shard's state into this one (order does not matter)."""
        for key in ("elements", "nonfinite", "cand_nonfinite", "violations", "top1_total", "top1_same"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)
        self.min_atol = max(self.min_atol, other.min_atol)
        self.min_cosine = min(self.min_cosine, other.min_cosine)
        self.shape_error = self.shape_error or other.shape_error
        for key, s in self.sums.items():
            s.merge(other.sums[key])
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram)]

    def result(self) -> OutputMetrics:
        self.sum_abs, self.signal, self.noise = (self.sums[k].value for k in ("abs", "signal", "noise"))
        return super().result()

    def state(self) -> dict[str, Any]:
        """JSON-safe state, for crossing process or node boundaries."""
        keys = ("elements", "max_abs", "max_rel", "min_cosine", "nonfinite", "cand_nonfinite", "violations",
                "min_atol", "top1_total", "top1_same", "shape_error", "histogram")
        return {"name": self.name, **{k: getattr(self, k) for k in keys},
                "sums": {k: list(s.partials) for k, s in self.sums.items()}}

    @classmethod
    def from_state(cls, data: dict[str, Any], rule: ParityRule) -> ShardAccumulator:
        acc = cls(data["name"], rule)
        for key, value in data.items():
            if key == "sums":
                acc.sums = {k: ExactSum(list(v)) for k, v in value.items()}
            elif key != "name":
                setattr(acc, key, list(value) if key == "histogram" else value)
        return acc


@dataclass
class ConfusionCounts:
    """Label × prediction counts of reference and candidate: accuracy and its drop, exactly."""

    classes: int
    reference: np.ndarray = field(init=False)
    candidate: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.reference = np.zeros((self.classes, self.classes), dtype=np.int64)
        self.candidate = np.zeros((self.classes, self.classes), dtype=np.int64)

    def add(self, labels: np.ndarray, ref_logits: np.ndarray, cand_logits: np.ndarray) -> None:
        labels = np.asarray(labels).astype(np.int64).ravel()
        np.add.at(self.reference, (labels, ref_logits.argmax(-1).ravel()), 1)
        np.add.at(self.candidate, (labels, cand_logits.argmax(-1).ravel()), 1)

    def merge(self, other: ConfusionCounts) -> None:
        self.reference += other.reference
        self.candidate += other.candidate

    @property
    def samples(self) -> int:
        return int(self.reference.sum())

    def accuracy(self) -> tuple[float, float]:
        """Top-1 accuracy (percent) of reference and candidate."""
        n = max(self.samples, 1)
        return 100.0 * np.trace(self.reference) / n, 100.0 * np.trace(self.candidate) / n

    def state(self) -> dict[str, Any]:
        return {"classes": self.classes, "reference": self.reference.tolist(), "candidate": self.candidate.tolist()}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> ConfusionCounts:
        out = cls(int(data["classes"]))
        out.reference = np.asarray(data["reference"], dtype=np.int64)
        out.candidate = np.asarray(data["candidate"], dtype=np.int64)
        return out
