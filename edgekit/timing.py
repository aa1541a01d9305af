"""One latency method for every speed figure edgekit prints: ``bench``, ``auto`` and the
compile-time "slower than fp32" verdict all time batch-1 calls the same way and report the
same percentiles, with the batch and thread count beside them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Feed = dict[str, np.ndarray]


def batch_one(feed: Feed, specs: Sequence[Any]) -> Feed:
    """The first sample of every input whose batch axis is dynamic (static inputs as they are)."""
    out = {}
    for spec in specs:
        arr = feed[spec.name]
        dynamic = bool(spec.shape) and isinstance(spec.shape[0], str)
        out[spec.name] = arr[:1] if dynamic else arr
    return out


def latency_samples(run: Callable[[], object], warmup: int, iterations: int, time_budget_s: float,
                    min_iterations: int = 5) -> list[float]:
    """Milliseconds per call of ``run()``: ``warmup`` untimed calls, then up to ``iterations`` timed
    ones, stopping early once ``time_budget_s`` is spent (but never before ``min_iterations``)."""
    for _ in range(warmup):
        run()
    samples: list[float] = []
    deadline = time.perf_counter() + time_budget_s
    while len(samples) < iterations and (len(samples) < min_iterations or time.perf_counter() < deadline):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    lat = np.asarray(samples, dtype=float)
    return {"p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99)), "iterations": int(lat.size)}


def interleaved(contenders: dict[str, Callable[[], object]], warmup: int, rounds: int, per_round: int
                ) -> dict[str, list[float]]:
    """Samples per contender timed in turns (rotating order), as benchmarks/_timing.py does, so that
    machine noise during the measurement hits every contender alike."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        latency_samples(fn, warmup, 0, 0.0, min_iterations=0)
    order = list(contenders.items())
    for i in range(rounds):
        shift = i % len(order)
        for name, fn in order[shift:] + order[:shift]:
            latency_samples(fn, 2, 0, 0.0, min_iterations=0)  # let the last one's worker threads settle
            samples[name] += latency_samples(fn, 0, per_round, float("inf"), min_iterations=per_round)
    return samples


def threads_label(threads: int | None) -> str:
    return f"{threads} threads" if threads else "backend default threads"
