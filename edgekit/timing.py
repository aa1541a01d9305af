"""Timing, in one place: every latency edgekit reports or judges is measured here, batch 1,
with the batch and thread count recorded beside the figure.

- ``sample_latencies``: a warmed-up loop of single calls under an iteration and time budget
  (``edgekit bench`` runs it in a fresh child process per candidate, see ``bench.measure``).
- ``interleaved``: contenders take turns in blocks, in a rotating order, so that machine noise
  (frequency changes, a neighbour's load) hits every contender alike: the compile-time
  "slower than fp32" verdict and each target's own speed record (``compiler/speed.py``), and
  ``benchmarks/``. Blocks, not single calls: onnxruntime's and OpenVINO's worker threads spin
  for a while after each run, and alternating call by call makes each contender compete with
  the last one's spinning threads. The first 50 ms of every block are not timed, for the same
  reason.
- ``batch_one``, ``summarize``, ``threads_label``: the batch-1 feed, the percentiles and the
  thread wording that bench and the compile-time verdict share.
- ``measure_throughput``: samples/s through ``run_many`` (all cores busy) at batch 1 and at every
  batch size the model takes, for ``edgekit bench --mode throughput``. Server-side users care
  about samples/s, not one call's latency: OpenVINO's THROUGHPUT hint runs several infer
  requests (streams) side by side, onnxruntime several single-threaded runs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

THROUGHPUT_BATCHES = (1, 2, 4, 8, 16, 32)
Feed = dict[str, np.ndarray]


def batch_one(feed: Feed, specs: Sequence[Any]) -> Feed:
    """The first sample of every input whose batch axis is dynamic (static inputs as they are)."""
    out = {}
    for spec in specs:
        arr = feed[spec.name]
        dynamic = bool(spec.shape) and isinstance(spec.shape[0], str)
        out[spec.name] = arr[:1] if dynamic else arr
    return out


def sample_latencies(fn: Callable[[], object], warmup: int, iterations: int, time_budget_s: float) -> list[float]:
    """Milliseconds of ``iterations`` calls at most (at least 5), within ``time_budget_s`` after 5."""
    for _ in range(warmup):
        fn()
    latencies: list[float] = []
    deadline = time.perf_counter() + time_budget_s
    while len(latencies) < iterations and (len(latencies) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        latencies.append((time.perf_counter() - start) * 1e3)
    return latencies


def interleaved(contenders: dict[str, Callable[[], object]], warmup: int = 5, rounds: int = 5,
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


def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99, the p50's own uncertainty and the sample count, as bench rows and speed records carry them."""
    lat = np.asarray(samples, dtype=float)
    return {"p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99)), "p50_ci_ms": median_ci(lat), "iterations": int(lat.size)}


def median_ci(samples: Sequence[float]) -> float:
    """Half-width of the median's 95 % confidence interval (distribution-free: the order statistics
    n/2 -/+ 1.96 sqrt(n)/2). How far a p50 may move between runs, unlike p90 - p50, which is how far
    single calls scatter: a jittery backend's p90 can be many times its p50 while its p50 is stable."""
    ordered = np.sort(np.asarray(samples, dtype=float))
    n = ordered.size
    if n < 2:
        return 0.0
    reach = 1.96 * np.sqrt(n) / 2
    lo, hi = max(0, int(np.floor(n / 2 - reach))), min(n - 1, int(np.ceil(n / 2 + reach)))
    return float(ordered[hi] - ordered[lo]) / 2


def threads_label(threads: int | None) -> str:
    return f"{threads} threads" if threads else "backend default threads"


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure_throughput(rt: Any, feed_for_batch: Callable[[int], dict[str, Any] | None], time_budget_s: float,
                       in_flight: int | None = None) -> dict[str, Any]:
    """samples/s per batch size (``feed_for_batch`` returns None for sizes the model cannot take).

    Each step hands ``in_flight`` copies of the batch to ``rt.run_many`` at once (default: 4 per
    core, enough to keep every stream fed) and counts finished samples over its share of the budget.
    """
    in_flight = in_flight or 4 * (os.cpu_count() or 1)
    per_batch: dict[int, float] = {}
    share = time_budget_s / len(THROUGHPUT_BATCHES)
    for size in THROUGHPUT_BATCHES:
        feed = feed_for_batch(size)
        if feed is None:
            continue
        feeds = [feed] * in_flight
        rt.run_many(feeds)  # warm-up: creates the requests / threads
        done, start = 0, time.perf_counter()
        while done < 2 * in_flight * size or time.perf_counter() - start < share:
            rt.run_many(feeds)
            done += in_flight * size
            if time.perf_counter() - start > 4 * share:
                break
        per_batch[size] = done / (time.perf_counter() - start)
    best = max(per_batch, key=lambda b: per_batch[b])
    return {"mode": "throughput", "throughput_batch1_per_s": per_batch.get(1), "best_batch": best,
            "best_batch_per_s": per_batch[best], "in_flight": in_flight,
            "throughput_by_batch": {str(b): v for b, v in per_batch.items()}}
