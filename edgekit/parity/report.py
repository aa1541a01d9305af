"""ParityReport: the result of comparing a candidate with its reference, as data.

It serialises to JSON (``parity.json``), renders to Markdown (``parity.md``), is
truthy when it passed, and raises ``ParityError`` on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import ParityError
from edgekit.parity.metrics import OutputMetrics, ParityRule
from edgekit.parity.user_rule import rule_from_dict, rule_in_words

REPORT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class AccuracyResult:
    """Task accuracy (top-1 against labels) of reference and candidate, in percent."""

    output: str
    samples: int
    reference: float
    candidate: float
    changed: tuple[dict[str, Any], ...] = ()  # {index, reference, candidate, label}: predictions that moved

    @property
    def drop(self) -> float:
        return self.reference - self.candidate

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "samples": self.samples,
            "reference": self.reference,
            "candidate": self.candidate,
            "drop": self.drop,
            "changed": [dict(c) for c in self.changed],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccuracyResult:
        return cls(data["output"], data["samples"], data["reference"], data["candidate"],
                   tuple(dict(c) for c in data.get("changed", ())))


@dataclass(frozen=True)
class ParityReport:
    """Whether a candidate behaves like its reference, per output, with the evidence."""

    precision: str
    rule: ParityRule
    outputs: tuple[OutputMetrics, ...]
    samples: int
    runs: int
    data: str
    reference: str
    candidate: str
    accuracy: AccuracyResult | None = None
    stages: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    user_metric: dict[str, Any] | None = None  # {"metric", "values", "passed"}: see parity/user_metric.py

    @property
    def failures(self) -> list[str]:
        found = [f"{m.name}: {f}" for m in self.outputs for f in m.failures]
        if self.runs == 0:
            found.append("no samples were compared")
        drop_limit = self.rule.max_accuracy_drop
        if self.accuracy is not None and drop_limit is not None and self.accuracy.drop > drop_limit:
            found.append(
                f"accuracy dropped {self.accuracy.drop:.2f} points "
                f"({self.accuracy.reference:.2f}% -> {self.accuracy.candidate:.2f}%), limit {drop_limit}"
            )
        if self.user_metric is not None and not self.user_metric["passed"]:
            values = ", ".join(f"{k} {v:.4g}" for k, v in self.user_metric["values"].items())
            found.append(f"user metric {self.user_metric['metric']} failed ({values})")
        return found

    @property
    def warnings(self) -> list[str]:
        """Not failures, but worth a look: non-finite values the reference shares, say."""
        return [f"{m.name}: {m.nonfinite_outputs} non-finite value(s) in the artifact's outputs "
                "(the reference has them too)" for m in self.outputs if m.nonfinite_outputs and m.passed]

    @property
    def passed(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.passed

    def raise_for_failure(self) -> None:
        """Raises ``ParityError`` listing every failing output and rule."""
        if not self.passed:
            raise ParityError(
                f"parity failed against {self.reference}: " + "; ".join(self.failures), report=self
            )

    def summary(self) -> str:
        """One line: verdict, worst metrics, accuracy."""
        verdict = "PASSED" if self.passed else "FAILED"
        worst_abs = max((m.max_abs for m in self.outputs), default=0.0)
        worst_cos = min((m.min_cosine for m in self.outputs), default=1.0)
        text = (
            f"parity {verdict} ({self.precision}) on {self.samples} samples: "
            f"max abs error {worst_abs:.3g}, min cosine {worst_cos:.6f}"
        )
        if self.accuracy is not None:
            a = self.accuracy
            text += f", top-1 accuracy {a.reference:.2f}% (reference) vs {a.candidate:.2f}% (artifact)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": REPORT_SCHEMA_VERSION,
            "passed": self.passed,
            "precision": self.precision,
            "rule": self.rule.to_dict(),
            "reference": self.reference,
            "candidate": self.candidate,
            "data": self.data,
            "samples": self.samples,
            "runs": self.runs,
            "outputs": [m.to_dict() for m in self.outputs],
            "accuracy": None if self.accuracy is None else self.accuracy.to_dict(),
            "stages": list(self.stages),
            "failures": self.failures,
            "warnings": self.warnings,
            "notes": list(self.notes),
            **({"user_metric": self.user_metric} if self.user_metric is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParityReport:
        return cls(
            precision=data["precision"],
            rule=rule_from_dict(data["rule"]),
            outputs=tuple(OutputMetrics.from_dict(m) for m in data["outputs"]),
            samples=data["samples"],
            runs=data["runs"],
            data=data["data"],
            reference=data["reference"],
            candidate=data["candidate"],
            accuracy=None if data.get("accuracy") is None else AccuracyResult.from_dict(data["accuracy"]),
            stages=tuple(data.get("stages", ())),
            notes=tuple(data.get("notes", ())),
            user_metric=data.get("user_metric"),
        )

    def to_markdown(self) -> str:
        """Verdict first, then a table per output: for pull-request comments."""
        warnings = [f"> **{n}**" for n in self.notes if n.startswith("WARNING")]
        lines = [*warnings, *([""] if warnings else []),
                 f"## edgekit parity: {'✅ PASSED' if self.passed else '❌ FAILED'}", ""]
        lines += [
            f"- precision: `{self.precision}`; rule: `{self.rule.to_dict()}`",
            f"- passes when: {rule_in_words(self.rule)}",
            f"- reference: {self.reference}",
            f"- candidate: {self.candidate}",
            f"- data: {self.data} ({self.samples} samples in {self.runs} runs)",
        ]
        lines += [f"- note: {n}" for n in self.notes if not n.startswith("WARNING")]
        for failure in self.failures:
            lines.append(f"- **failure**: {failure}")
        for warning in self.warnings:
            lines.append(f"- **warning**: {warning}")
        lines += [
            "",
            "| output | max abs | mean abs | max rel | min cosine | SNR dB | top-1 agree "
            "| min passing atol | verdict |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in self.outputs:
            top1 = "" if m.top1_agreement is None else f"{m.top1_agreement:.4f}"
            atol = "" if m.min_passing_atol is None else f"{m.min_passing_atol:.3g}"
            lines.append(
                f"| `{m.name}` | {m.max_abs:.3g} | {m.mean_abs:.3g} | {m.max_rel:.3g} | "
                f"{m.min_cosine:.6f} | {m.snr_db:.1f} | {top1} | {atol} | {'pass' if m.passed else 'FAIL'} |"
            )
        if self.accuracy is not None:
            a = self.accuracy
            lines += [
                "",
                f"Top-1 accuracy on `{a.output}` over {a.samples} labelled samples: "
                f"reference {a.reference:.2f}%, artifact {a.candidate:.2f}%, drop {a.drop:.2f} points; "
                f"{len(a.changed)} sample(s) changed prediction.",
            ]
        if self.stages:
            lines += ["", "| stage | compared with | max abs | verdict | detail |", "|---|---|---|---|---|"]
            for s in self.stages:
                lines.append(
                    f"| {s['stage']} | {s.get('against', '')} | {s.get('max_abs', '')} | "
                    f"{'pass' if s.get('passed') else 'FAIL'} | {s.get('detail', '')} |"
                )
        return "\n".join(lines) + "\n"
