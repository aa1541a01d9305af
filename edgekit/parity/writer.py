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
    from edgekit.parity.summary_md import summary_markdown

    # Written before the manifest's file table exists: sizes come from the staged files.
    staged = {p: {"size": (folder / p).stat().st_size} for t in manifest.get("targets", [])
              for p in (t.get("files") or {}).values() if (folder / p).is_file()}
    (folder / Layout.PARITY_MD).write_text(summary_markdown(reports, {**manifest, "files": {
        **staged, **(manifest.get("files") or {})}}))
    from edgekit.parity.html import render

    (folder / Layout.PARITY_HTML).write_text(render(reports, manifest, plots), encoding="utf-8")
