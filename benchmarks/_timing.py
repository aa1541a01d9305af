"""The benchmarks time with edgekit's own timing module (one timing module for everything)."""

from __future__ import annotations

from edgekit.timing import interleaved as measure
from edgekit.timing import median, percentile

__all__ = ["measure", "median", "percentile"]
