"""Shared timing helpers: contenders take turns in blocks, in a rotating order, so that machine
noise (frequency changes, a neighbour's load) hits every contender alike.

Blocks, not single calls: onnxruntime's and OpenVINO's worker threads spin for a while after
each run, and alternating call by call makes each contender compete with the last one's
spinning threads. The first 50 ms of every block are not timed, for the same reason."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(contenders: dict[str, Callable[[], object]], warmup: int = 5, rounds: int = 5,
            per_round: int = 10) -> dict[str, list[float]]:
    """Latency samples in milliseconds per contender: ``rounds * per_round`` calls each."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for i in range(rounds):
        shift = i % len(order)
        for name, fn in order[shift:] + order[:shift]:
            settle = time.perf_counter() + 0.05  # let the last contender's threads stop spinning
            while time.perf_counter() < settle:
                fn()
            for _ in range(per_round):
                start = time.perf_counter()
                fn()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
