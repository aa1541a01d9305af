"""Throughput measurement for ``edgekit bench --mode throughput``: samples per second through
``run_many`` (all cores busy), at batch 1 and at every batch size the model takes; the best wins.

Server-side users care about samples/s, not one call's latency: OpenVINO's THROUGHPUT hint
runs several infer requests (streams) side by side, onnxruntime several single-threaded runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

BATCHES = (1, 2, 4, 8, 16, 32)
Feed = dict[str, np.ndarray]


def measure_throughput(rt: Any, feed_for_batch: Callable[[int], Feed | None], time_budget_s: float,
                       in_flight: int | None = None) -> dict[str, Any]:
    """samples/s per batch size (``feed_for_batch`` returns None for sizes the model cannot take).

    Each step hands ``in_flight`` copies of the batch to ``rt.run_many`` at once (default: 4 per
    core, enough to keep every stream fed) and counts finished samples over its share of the budget.
    """
    in_flight = in_flight or 4 * (os.cpu_count() or 1)
    per_batch: dict[int, float] = {}
    share = time_budget_s / len(BATCHES)
    for size in BATCHES:
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
