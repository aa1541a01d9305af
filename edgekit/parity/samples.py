"""What the HTML report plots: a bounded sample of reference/candidate values and an
error histogram per output, gathered while parity runs (never the whole arrays)."""

from __future__ import annotations

import numpy as np

# |error| histogram bins: exact zero, then decades from 1e-12 to 1e4.
ERROR_EDGES = np.concatenate([[0.0], np.logspace(-12, 4, 33)])


class PlotSamples:
    def __init__(self, limit: int = 2000) -> None:
        self.limit = limit
        self.ref: dict[str, list[np.ndarray]] = {}
        self.cand: dict[str, list[np.ndarray]] = {}
        self.hist: dict[str, np.ndarray] = {}
        self._kept: dict[str, int] = {}

    def add(self, name: str, ref: np.ndarray, cand: np.ndarray) -> None:
        if ref.shape != cand.shape:
            return
        r = ref.astype(np.float64, copy=False).reshape(-1)
        c = cand.astype(np.float64, copy=False).reshape(-1)
        finite = np.isfinite(r) & np.isfinite(c)
        r, c = r[finite], c[finite]
        counts, _ = np.histogram(np.minimum(np.abs(r - c), ERROR_EDGES[-1]), bins=ERROR_EDGES)
        self.hist[name] = self.hist.get(name, np.zeros(len(ERROR_EDGES) - 1, np.int64)) + counts
        room = self.limit - self._kept.get(name, 0)
        if room > 0 and r.size:
            step = max(1, r.size // room)
            self.ref.setdefault(name, []).append(r[::step][:room])
            self.cand.setdefault(name, []).append(c[::step][:room])
            self._kept[name] = self._kept.get(name, 0) + len(r[::step][:room])

    def values(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self.ref:
            return np.empty(0), np.empty(0)
        return np.concatenate(self.ref[name]), np.concatenate(self.cand[name])
