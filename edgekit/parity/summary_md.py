"""parity.md as a reviewer reads it in a pull request: the verdict first, one table across
targets, the rule in words, and each target's detail folded away."""

from __future__ import annotations

from typing import Any

from edgekit.parity.report import ParityReport
from edgekit.parity.user_rule import rule_in_words
from edgekit.precision import Precision


def sig3(value: float | None) -> str:
    """Three significant digits (what a reviewer compares), or a dash."""
    return "—" if value is None else f"{value:.3g}"


def key_metric(report: ParityReport) -> str:
    if report.accuracy is not None:
        a = report.accuracy
        return f"top-1 {sig3(a.candidate)}% (drop {sig3(a.drop)} pts)"
    if report.user_metric is not None:
        return ", ".join(f"{k} {sig3(v)}" for k, v in report.user_metric["values"].items())
    if report.precision == Precision.FP32:
        return f"max abs error {sig3(max((m.max_abs for m in report.outputs), default=0.0))}"
    return f"min cosine {min((m.min_cosine for m in report.outputs), default=1.0):.6f}"


def summary_markdown(reports: dict[str, ParityReport], manifest: dict[str, Any]) -> str:
    """The whole parity.md of a bundle."""
    first = next(iter(reports.values()))
    warnings = list(dict.fromkeys(n for r in reports.values() for n in r.notes if n.startswith("WARNING")))
    failed = [n for n, r in reports.items() if not r.passed]
    verdict = "✅ PASSED" if not failed else f"❌ FAILED ({len(failed)} of {len(reports)} targets)"
    lines = [*(f"> **{w}**" for w in warnings), *([""] if warnings else []), f"## edgekit parity: {verdict}", ""]
    lines += ["| target | precision | verdict | key metric | p50 latency (batch 1) | size |",
              "|---|---|---|---|---|---|"]
    entries = {t["name"]: t for t in manifest.get("targets", [])}
    files = manifest.get("files", {})
    for name, r in reports.items():
        entry = entries.get(name, {})
        ms = (entry.get("speed") or {}).get("ms")
        size = sum(files.get(p, {}).get("size", 0) for p in (entry.get("files") or {}).values())
        lines.append(f"| {name} | {r.precision} | {'pass' if r.passed else '**FAIL**'} | {key_metric(r)} | "
                     f"{sig3(ms) + ' ms' if ms is not None else '—'} | {sig3(size / 1e6)} MB |")
    source = manifest.get("source") or {}
    sig = manifest.get("signature") or {}
    lines += ["", f"- passes when: {rule_in_words(first.rule)}",
              f"- data: {first.data} ({first.samples} samples)",
              f"- model: {source.get('description', '?')}, sha256 `{str(source.get('sha256', '?'))[:16]}…`",
              "- signature: " + ", ".join(f"in `{s['name']}` {s['dtype']}{s['shape']}" for s in sig.get("inputs", []))
              + "; " + ", ".join(f"out `{s['name']}`" for s in sig.get("outputs", []))]
    for name in failed:
        lines += [f"- **{name}**: " + "; ".join(reports[name].failures)]
    for name, r in reports.items():
        body = "\n".join(line for line in r.to_markdown().splitlines() if not line.startswith("> **WARNING"))
        lines += ["", f"<details><summary>target <code>{name}</code>: details</summary>", "",
                  body.replace("## edgekit parity", "### parity", 1),
                  "", "</details>"]
    return "\n".join(lines) + "\n"
