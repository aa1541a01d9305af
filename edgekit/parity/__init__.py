"""Parity: does the artifact behave like the model it came from? Metrics, rules, reports."""

from edgekit.parity.metrics import DEFAULT_RULES, OutputMetrics, ParityRule, rule_for
from edgekit.parity.report import AccuracyResult, ParityReport

__all__ = ["DEFAULT_RULES", "AccuracyResult", "OutputMetrics", "ParityReport", "ParityRule", "rule_for"]
