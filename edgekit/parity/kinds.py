"""What each output is, so that a rule judges it by what its users judge.

A flattened cosine over a whole tensor hides what matters: a packed detection head's
class scores (0–1) vanish beside its box coordinates (0–320), a regression head's argmax
means nothing, and a text recogniser is right or wrong per time step. ``KindStats``
accumulates, batch by batch and without keeping the arrays, the reference statistics
kind inference needs (shape, value ranges, row sums, argmax spread, per-channel ranges)
and the task metrics each kind is gated on (per-sample cosines, per-channel SNR,
per-position argmax agreement). Pure numpy: the embedded runtime re-checks with it.

Kinds: ``logits`` and ``probabilities`` (classifier: top-1), ``sequence-classes`` (argmax
over the last axis at every position), ``regression`` (per-channel SNR, no top-1),
``packed`` (channels of very different ranges in one tensor: per-channel SNR, worst channel
reported), ``embedding`` and ``tensor`` (robust error statistics only).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

CLASSIFIER = ("logits", "probabilities")
_REGRESSION_NAME = re.compile(r"box|landmark|coord|keypoint|pitch|depth|offset|regress|pose", re.I)
_EMBEDDING_NAME = re.compile(r"embed|hidden|feature|pooler|vector", re.I)
_CLASS_NAME = re.compile(r"logit|prob|class|cls|label|ctc|tag", re.I)
MIN_SAMPLES_FOR_SPREAD = 16  # below this, an argmax that never moves says nothing
PACKED_RANGE_RATIO = 20.0  # widest channel range / narrowest, for channels packed in one tensor


@dataclass(frozen=True)
class OutputKind:
    """An output's kind, the axis its per-channel statistics use, and why it was chosen."""

    kind: str
    channel_axis: int | None
    reason: str


@dataclass
class _Channels:
    """Per-channel sums along one axis of the batched tensor."""

    ref_sum: np.ndarray
    ref_sq: np.ndarray
    noise: np.ndarray
    count: np.ndarray
    ref_min: np.ndarray
    ref_max: np.ndarray


class KindStats:
    """Reference statistics and task metrics of one output, accumulated run by run."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ndim: int | None = None  # per-sample rank; None until a batch arrives
        self.last_dims: set[int] = set()
        self.cosines: list[float] = []
        self.samples = 0
        self.ref_min, self.ref_max = np.inf, -np.inf
        self.rows_sum_one = True
        self.exp_rows_sum_one = True
        self.argmax: Counter[int] = Counter()
        self.channels: dict[int, _Channels | None] = {}
        self.positions = self.positions_same = 0

    def add(self, r: np.ndarray, c: np.ndarray, batch: int | None) -> None:
        """``r``/``c``: reference and candidate (finite, float64), leading axis the batch when it is."""
        if r.size == 0:
            return
        batched = bool(batch) and r.ndim >= 1 and r.shape[0] == batch
        rb, cb = (r, c) if batched else (r[None], c[None])
        self.ndim = rb.ndim - 1
        self.ref_min = min(self.ref_min, float(rb.min()))
        self.ref_max = max(self.ref_max, float(rb.max()))
        self._cosines(rb, cb)
        if rb.ndim >= 2:
            self.last_dims.add(rb.shape[-1])
            self._rows(rb, cb)
            for axis in sorted({1, rb.ndim - 1}):
                self._channel(axis, rb, cb)

    def _cosines(self, rb: np.ndarray, cb: np.ndarray) -> None:
        r2, c2 = rb.reshape(rb.shape[0], -1), cb.reshape(cb.shape[0], -1)
        nr, nc = np.linalg.norm(r2, axis=1), np.linalg.norm(c2, axis=1)
        both_zero = (nr < 1e-12) & (nc < 1e-12)
        cos = np.where(both_zero, 1.0, (r2 * c2).sum(1) / np.maximum(nr * nc, 1e-12))
        self.cosines += np.clip(cos, -1.0, 1.0).tolist()
        self.samples += rb.shape[0]

    def _rows(self, rb: np.ndarray, cb: np.ndarray) -> None:
        if rb.shape[-1] < 2:
            return
        sums = rb.sum(-1)
        self.rows_sum_one &= bool(rb.min() >= 0 and np.allclose(sums, 1.0, atol=1e-3))
        with np.errstate(over="ignore"):
            self.exp_rows_sum_one &= bool(rb.max() <= 1e-6 and np.allclose(np.exp(rb).sum(-1), 1.0, atol=1e-3))
        ra, ca = rb.argmax(-1), cb.argmax(-1)
        if rb.ndim == 2:
            self.argmax.update(ra.tolist())
        else:
            self.positions += ra.size
            self.positions_same += int((ra == ca).sum())

    def _channel(self, axis: int, rb: np.ndarray, cb: np.ndarray) -> None:
        if axis in self.channels and self.channels[axis] is None:
            return
        axes = tuple(i for i in range(rb.ndim) if i != axis)
        size = rb.shape[axis]
        now = _Channels(rb.sum(axes), (rb * rb).sum(axes), ((rb - cb) ** 2).sum(axes),
                        np.full(size, rb.size / size), rb.min(axes), rb.max(axes))
        self._merge_channel(axis, now)

    # --- shards (edgekit/matrix merges the statistics of many processes) -------------------------

    def state(self) -> dict[str, Any]:
        """JSON-safe state, for crossing process or node boundaries."""
        return {"ndim": self.ndim, "last_dims": sorted(self.last_dims), "cosines": list(self.cosines),
                "samples": self.samples, "ref_min": self.ref_min, "ref_max": self.ref_max,
                "rows_sum_one": self.rows_sum_one, "exp_rows_sum_one": self.exp_rows_sum_one,
                "argmax": sorted(self.argmax.items()), "positions": self.positions,
                "positions_same": self.positions_same,
                "channels": [[axis, None if ch is None else {f.name: getattr(ch, f.name).tolist()
                                                             for f in fields(ch)}]
                             for axis, ch in sorted(self.channels.items())]}

    @classmethod
    def from_state(cls, name: str, data: dict[str, Any]) -> KindStats:
        stats = cls(name)
        for key in ("ndim", "samples", "ref_min", "ref_max", "rows_sum_one", "exp_rows_sum_one",
                    "positions", "positions_same"):
            setattr(stats, key, data[key])
        stats.last_dims, stats.cosines = set(data["last_dims"]), list(data["cosines"])
        stats.argmax = Counter({int(k): int(v) for k, v in data["argmax"]})
        stats.channels = {int(axis): None if ch is None else _Channels(**{k: np.asarray(v) for k, v in ch.items()})
                          for axis, ch in data["channels"]}
        return stats

    def merge(self, other: KindStats) -> None:
        """Folds another shard's statistics into these. Cosines are appended (mean and percentile
        do not depend on their order); per-channel sums add as floats."""
        if other.ndim is None:
            return
        if self.ndim is None:
            self.__dict__.update(KindStats.from_state(self.name, other.state()).__dict__)
            return
        self.last_dims |= other.last_dims
        self.cosines += other.cosines
        self.samples += other.samples
        self.ref_min, self.ref_max = min(self.ref_min, other.ref_min), max(self.ref_max, other.ref_max)
        self.rows_sum_one &= other.rows_sum_one
        self.exp_rows_sum_one &= other.exp_rows_sum_one
        self.argmax.update(other.argmax)
        self.positions += other.positions
        self.positions_same += other.positions_same
        for axis, ch in other.channels.items():
            if ch is None or self.channels.get(axis, ch) is None:
                self.channels[axis] = None
            else:
                self._merge_channel(axis, ch)

    def _merge_channel(self, axis: int, now: _Channels) -> None:
        old = self.channels.get(axis)
        if old is None:
            self.channels[axis] = now
        elif old.ref_sum.shape != now.ref_sum.shape:
            self.channels[axis] = None  # channels differ between runs (a sequence axis): not channels
        else:
            self.channels[axis] = _Channels(old.ref_sum + now.ref_sum, old.ref_sq + now.ref_sq,
                                            old.noise + now.noise, old.count + now.count,
                                            np.minimum(old.ref_min, now.ref_min), np.maximum(old.ref_max, now.ref_max))

    # --- results -------------------------------------------------------------------------------

    def infer(self) -> OutputKind:
        """The kind, from shape, value ranges and the reference outputs (name hints break ties)."""
        if self.ndim is None or self.ndim == 0 or self.last_dims == {1}:
            return OutputKind("tensor", None, "scalar per sample")
        packed = self._packed_axis() if self.ndim <= 2 else None
        if packed is not None:
            return OutputKind("packed", packed[0], packed[1])
        if self.ndim == 1:
            return self._flat_kind()
        if self.ndim == 2 and (self.rows_sum_one or self.exp_rows_sum_one or _CLASS_NAME.search(self.name)):
            return OutputKind("sequence-classes", None, "a class distribution (or class-named output) at "
                              "every position: argmax agreement per position")
        return OutputKind("tensor", 1 if self.channels.get(1) is not None else None,
                          "feature map / hidden state: robust error statistics")

    def _flat_kind(self) -> OutputKind:
        last = self.ndim and max(self.last_dims, default=1)
        if self.rows_sum_one:
            return OutputKind("probabilities", None, "rows are distributions (non-negative, sum 1)")
        if _REGRESSION_NAME.search(self.name):
            return OutputKind("regression", 1, "output name says regression")
        if _EMBEDDING_NAME.search(self.name):
            return OutputKind("embedding", None, "output name says embedding")
        if _CLASS_NAME.search(self.name):
            return OutputKind("logits", None, "output name says classes")
        top = self.argmax.most_common(1)[0][1] if self.argmax else 0
        if self.samples >= MIN_SAMPLES_FOR_SPREAD and top >= 0.9 * self.samples and last and last <= 64:
            return OutputKind("regression", 1, f"the argmax is the same channel on {top} of {self.samples} "
                              "samples: not a class decision")
        return OutputKind("logits", None, "[samples, classes] with a varying argmax")

    def _packed_axis(self) -> tuple[int, str] | None:
        """A channel axis whose channels span very different ranges, some within [0, 1]."""
        for axis, ch in sorted(self.channels.items()):
            if ch is None or not 2 <= ch.ref_sum.size <= 1024:
                continue
            spans = ch.ref_max - ch.ref_min
            unit = (ch.ref_min >= -1e-6) & (ch.ref_max <= 1.0 + 1e-6) & (spans > 0)
            wide = spans > PACKED_RANGE_RATIO * max(float(spans[unit].max()) if unit.any() else np.inf, 1e-12)
            if unit.any() and wide.any():
                return axis, (f"axis {axis} packs channels of range up to {spans.max():.3g} with "
                              f"{int(unit.sum())} channel(s) within [0, 1]: judged per channel")
        return None

    def mean_cosine(self) -> float:  # fsum: exact, so shards merged in any order agree bit for bit
        return math.fsum(self.cosines) / len(self.cosines) if self.cosines else 1.0

    def p1_cosine(self) -> float:
        return float(np.percentile(self.cosines, 1)) if self.cosines else 1.0

    def worst_sample(self) -> int | None:
        return int(np.argmin(self.cosines)) if self.cosines else None

    def position_agreement(self) -> float | None:
        return self.positions_same / self.positions if self.positions else None

    def channel_snr(self, axis: int | None) -> tuple[int, float] | None:
        """(worst channel, its SNR in dB): error power against the channel's own variance."""
        ch = self.channels.get(axis) if axis is not None else None
        if ch is None:
            return None
        mean = ch.ref_sum / ch.count
        # A constant channel is scored against a thousandth of the tensor's range, not against 0.
        floor = (1e-3 * max(self.ref_max - self.ref_min, 1e-9)) ** 2
        var = np.maximum(ch.ref_sq / ch.count - mean * mean, floor)
        noise = ch.noise / ch.count
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = np.where(noise <= 1e-24, np.inf, 10 * np.log10(var / np.maximum(noise, 1e-300)))
        worst = int(np.argmin(snr))
        return worst, float(snr[worst])
