"""Writes a bundle's parity evidence: parity.json (schema'd), parity.md, parity.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgekit.layout import Layout
from edgekit.parity.report import ParityReport
from edgekit.parity.samples import PlotSamples

SCHEMA_FILE = Path(__file__).with_name("parity.schema.json")


def parity_document(reports: dict[str, ParityReport]) -> dict[str, Any]:
    """The parity.json document (see parity.schema.json)."""
    return {"schema_version": 1, "passed": all(r.passed for r in reports.values()),
            "reports": {n: r.to_dict() for n, r in reports.items()}}


def markdown(reports: dict[str, ParityReport]) -> str:
    shared = [n for n in next(iter(reports.values())).notes if n.startswith("WARNING")]
    banner = "".join(f"> **{n}**\n" for n in shared) + ("\n" if shared else "")
    return banner + "\n".join(f"# target `{n}`\n\n{r.to_markdown()}" for n, r in reports.items())


def write_reports(folder: Path, reports: dict[str, ParityReport], manifest: dict[str, Any],
                  plots: dict[str, PlotSamples] | None = None) -> None:
    (folder / Layout.PARITY_JSON).write_text(json.dumps(parity_document(reports), indent=2, allow_nan=False) + "\n")
    (folder / Layout.PARITY_MD).write_text(markdown(reports))
    from edgekit.parity.html import render

    (folder / Layout.PARITY_HTML).write_text(render(reports, manifest, plots), encoding="utf-8")
