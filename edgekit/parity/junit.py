"""Parity as JUnit XML: one test case per output and rule, so CI systems show failures natively."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from edgekit.parity.metrics import OutputMetrics
from edgekit.parity.report import ParityReport


def _cases(report: ParityReport) -> list[tuple[str, str | None]]:
    """(case name, failure message or None) for every rule that applies to every output."""
    rule = report.rule
    cases: list[tuple[str, str | None]] = []
    for m in report.outputs:
        def failing(word: str, metrics: OutputMetrics = m) -> str | None:
            hits = [f for f in metrics.failures if word in f]
            return "; ".join(hits) if hits else None

        cases.append((f"{m.name}: shape and finite values", failing("shape") or failing("non-finite")))
        if rule.atol is not None or rule.rtol is not None:
            cases.append((f"{m.name}: |error| <= atol {rule.atol} + rtol {rule.rtol} * |reference|",
                          failing("elements outside")))
        if rule.min_cosine is not None:
            cases.append((f"{m.name}: cosine >= {rule.min_cosine}", failing("cosine")))
        if rule.min_mean_cosine is not None or rule.min_p1_cosine is not None:
            cases.append((f"{m.name}: mean cosine >= {rule.min_mean_cosine}, 1st percentile >= "
                          f"{rule.min_p1_cosine}", failing("cosine")))
        if rule.min_top1 is not None and m.top1_agreement is not None and m.kind in (None, "logits",
                                                                                     "probabilities"):
            cases.append((f"{m.name}: top-1 agreement >= {rule.min_top1}", failing("top-1")))
        if rule.min_snr_db is not None:
            cases.append((f"{m.name}: SNR >= {rule.min_snr_db} dB", failing("SNR")))
        if rule.min_position_agreement is not None and m.kind == "sequence-classes":
            cases.append((f"{m.name}: per-position agreement >= {rule.min_position_agreement}",
                          failing("per-position")))
    if report.accuracy is not None and rule.max_accuracy_drop is not None:
        hits = [f for f in report.failures if f.startswith("accuracy dropped")]
        cases.append((f"accuracy drop <= {rule.max_accuracy_drop} points", "; ".join(hits) or None))
    if report.runs == 0:
        cases.append(("samples compared", "no samples were compared"))
    return cases


def to_junit(reports: dict[str, ParityReport]) -> str:
    """A JUnit document with one test suite per target."""
    suites = ET.Element("testsuites", name="edgekit parity")
    total = failed = 0
    for target, report in reports.items():
        cases = _cases(report)
        suite = ET.SubElement(suites, "testsuite", name=f"parity {target} ({report.precision})",
                              tests=str(len(cases)), failures=str(sum(1 for _, f in cases if f)), errors="0")
        for name, failure in cases:
            case = ET.SubElement(suite, "testcase", classname=f"edgekit.parity.{target}", name=name)
            if failure:
                node = ET.SubElement(case, "failure", message=failure[:500], type="ParityFailure")
                node.text = failure
        ET.SubElement(suite, "system-out").text = report.summary()
        total += len(cases)
        failed += sum(1 for _, f in cases if f)
    suites.set("tests", str(total))
    suites.set("failures", str(failed))
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


def write_junit(reports: dict[str, ParityReport], path: str | Path) -> None:
    Path(path).write_text(to_junit(reports), encoding="utf-8")
