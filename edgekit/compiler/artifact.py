"""What ``edgekit.compile`` returns (light: ``import edgekit`` imports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.parity.report import ParityReport


@dataclass(frozen=True)
class Artifact:
    """What ``compile`` returns: where the bundle is, its manifest, and the parity evidence."""

    path: Path
    manifest: dict[str, Any]
    parity: ParityReport
    reports: dict[str, ParityReport] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports.values())
