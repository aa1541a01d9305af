"""Per-output error metrics, accumulated over many runs, and the pass rules per precision.

Pure numpy, so that the embedded runtime can re-verify itself without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from edgekit.precision import Precision

_TINY = 1e-12


@dataclass(frozen=True)
class ParityRule:
    """When a candidate passes. ``None`` disables a criterion."""

    atol: float | None = None
    rtol: float | None = None
    min_cosine: float | None = None
    min_top1: float | None = None
    max_accuracy_drop: float | None = None  # in accuracy points (percent)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


DEFAULT_RULES: dict[str, ParityRule] = {
    Precision.FP32.value: ParityRule(atol=1e-4, rtol=1e-3),
    Precision.FP16.value: ParityRule(min_cosine=0.999),
    Precision.INT8.value: ParityRule(min_cosine=0.99, min_top1=0.98, max_accuracy_drop=1.0),
    Precision.INT8_DYNAMIC.value: ParityRule(min_cosine=0.99, min_top1=0.98, max_accuracy_drop=1.0),
    # bf16 keeps fp32's exponent range (no overflow, unlike fp16) but 8 mantissa bits to fp16's 11:
    # each rounding errs ~8x more than fp16, while OpenVINO accumulates in f32 and does not clip
    # like int8 ranges do. So between the two: cosine 0.995, top-1 0.99, 0.5 accuracy points.
    Precision.BF16.value: ParityRule(min_cosine=0.995, min_top1=0.99, max_accuracy_drop=0.5),
}


def rule_for(precision: str, **overrides: float | None) -> ParityRule:
    """The default rule of a precision with any given criteria replaced."""
    base = DEFAULT_RULES.get(precision, DEFAULT_RULES["fp32"])
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class OutputMetrics:
    """How far one output of the candidate is from the reference, over every sample."""

    name: str
    elements: int
    max_abs: float
    mean_abs: float
    max_rel: float
    min_cosine: float
    snr_db: float
    nonfinite_mismatches: int
    nonfinite_outputs: int = 0
    tolerance_violations: int | None = None
    top1_agreement: float | None = None
    min_passing_atol: float | None = None
    failures: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: non-finite floats become the strings "inf", "-inf", "nan"."""
        data = {k: (str(v) if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in asdict(self).items()}
        data["failures"] = list(self.failures)
        data["passed"] = self.passed
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputMetrics:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["failures"] = tuple(fields.get("failures", ()))
        for key, value in fields.items():
            if isinstance(value, str) and key != "name":
                fields[key] = float(value)
        return cls(**fields)


class OutputAccumulator:
    """Accumulates one output's errors run by run, without keeping the arrays."""

    def __init__(self, name: str, rule: ParityRule) -> None:
        self.name = name
        self.rule = rule
        self.elements = 0
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.max_rel = 0.0
        self.min_cosine = 1.0
        self.signal = 0.0
        self.noise = 0.0
        self.nonfinite = 0
        self.cand_nonfinite = 0
        self.violations = 0
        self.min_atol = 0.0
        self.top1_total = 0
        self.top1_same = 0
        self.shape_error: str | None = None

    def add(self, ref: np.ndarray, cand: np.ndarray, batch: int | None) -> None:
        if ref.shape != cand.shape:
            self.shape_error = f"shape {list(cand.shape)} differs from the reference's {list(ref.shape)}"
            return
        ref64 = ref.astype(np.float64, copy=False)
        cand64 = cand.astype(np.float64, copy=False)
        finite = np.isfinite(ref64) & np.isfinite(cand64)
        same_nonfinite = ~finite & ((ref64 == cand64) | (np.isnan(ref64) & np.isnan(cand64)))
        self.nonfinite += int((~finite & ~same_nonfinite).sum())
        self.cand_nonfinite += int((~np.isfinite(cand64)).sum())
        r = np.where(finite, ref64, 0.0)
        c = np.where(finite, cand64, 0.0)
        diff = np.abs(r - c)
        self.elements += diff.size
        if diff.size:
            self.max_abs = max(self.max_abs, float(diff.max()))
            self.sum_abs += float(diff.sum())
            self.max_rel = max(self.max_rel, float((diff / np.maximum(np.abs(r), 1e-6)).max()))
        self.signal += float((r * r).sum())
        self.noise += float((diff * diff).sum())
        atol, rtol = self.rule.atol or 0.0, self.rule.rtol or 0.0
        if self.rule.atol is not None or self.rule.rtol is not None:
            self.violations += int((diff > atol + rtol * np.abs(r)).sum())
        if diff.size:
            # The smallest atol that would have passed (with the rule's rtol, or none), so that
            # nobody has to hunt for a tolerance by trial and error.
            self.min_atol = max(self.min_atol, float((diff - rtol * np.abs(r)).max()))
        self.min_cosine = min(self.min_cosine, _min_row_cosine(r, c, batch))
        if ref.ndim == 2 and ref.shape[1] > 1 and np.issubdtype(ref.dtype, np.floating):
            self.top1_total += ref.shape[0]
            self.top1_same += int((r.argmax(1) == c.argmax(1)).sum())

    def result(self) -> OutputMetrics:
        rule = self.rule
        failures = []
        if self.shape_error:
            failures.append(self.shape_error)
        if self.nonfinite:
            failures.append(f"{self.nonfinite} non-finite value(s) where the reference differs")
        if (rule.atol is not None or rule.rtol is not None) and self.violations:
            failures.append(
                f"{self.violations} of {self.elements} elements outside atol {rule.atol} + "
                f"rtol {rule.rtol} (max abs error {self.max_abs:.3g})"
            )
        if rule.min_cosine is not None and self.min_cosine < rule.min_cosine:
            failures.append(f"cosine {self.min_cosine:.6f} below {rule.min_cosine}")
        top1 = self.top1_same / self.top1_total if self.top1_total else None
        if rule.min_top1 is not None and top1 is not None and top1 < rule.min_top1:
            failures.append(f"top-1 agreement {top1:.4f} below {rule.min_top1}")
        tolerance_rule = rule.atol is not None or rule.rtol is not None
        return OutputMetrics(
            name=self.name,
            elements=self.elements,
            max_abs=self.max_abs,
            mean_abs=self.sum_abs / self.elements if self.elements else 0.0,
            max_rel=self.max_rel,
            min_cosine=self.min_cosine,
            snr_db=_snr_db(self.signal, self.noise),
            nonfinite_mismatches=self.nonfinite,
            nonfinite_outputs=self.cand_nonfinite,
            tolerance_violations=self.violations if tolerance_rule else None,
            top1_agreement=top1,
            min_passing_atol=max(self.min_atol, 0.0),
            failures=tuple(failures),
        )


def _min_row_cosine(r: np.ndarray, c: np.ndarray, batch: int | None) -> float:
    """Cosine similarity per sample (leading axis when it is the batch), the minimum."""
    if r.size == 0:
        return 1.0
    if batch and r.ndim >= 1 and r.shape[0] == batch:
        r2, c2 = r.reshape(batch, -1), c.reshape(batch, -1)
    else:
        r2, c2 = r.reshape(1, -1), c.reshape(1, -1)
    dot = (r2 * c2).sum(1)
    nr, nc = np.sqrt((r2 * r2).sum(1)), np.sqrt((c2 * c2).sum(1))
    both_zero = (nr < _TINY) & (nc < _TINY)
    cos = np.where(both_zero, 1.0, dot / np.maximum(nr * nc, _TINY))
    return float(np.clip(cos, -1.0, 1.0).min())


def _snr_db(signal: float, noise: float) -> float:
    if noise <= 0.0:
        return float("inf")
    if signal <= 0.0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))
