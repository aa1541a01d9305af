"""The context one compile's stages share, so that helpers take it instead of 10–16 arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.compiler.options import CompileOptions
from edgekit.data.sources import DataSource
from edgekit.models.loader import ModelSource
from edgekit.parity.metrics import ParityRule

Log = Callable[[str], None]


@dataclass(frozen=True)
class Build:
    """What every stage of one compile shares: the options, the resolved targets, the model
    source and data, the parity rule, the scratch folder and the logger."""

    opts: CompileOptions
    targets: list[Any]
    source: ModelSource
    eval_source: DataSource | None
    calib_source: DataSource | None
    rule: ParityRule
    scratch: Path
    say: Log

    @property
    def precision(self) -> str:
        return self.opts.precision

    @property
    def seed(self) -> int:
        return self.opts.seed

    @property
    def data_description(self) -> str:
        """What parity is measured on: the eval data, else the seeded random inputs."""
        return self.eval_source.description if self.eval_source else f"seeded random inputs (seed {self.seed})"
