"""Shared timing helpers: interleaved rounds, so that machine noise hits every contender alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(contenders: dict[str, Callable[[], object]], warmup: int = 5, rounds: int = 5,
            per_round: int = 10) -> dict[str, list[float]]:
    """Latency samples in milliseconds per contender, measured in alternating rounds."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
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
