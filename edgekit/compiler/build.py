"""The context one compile's stages share, so that helpers take it instead of 10–16 arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.compiler.options import CompileOptions
from edgekit.compiler.prequant import keeps_quantized
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
    prequant: dict[str, int] = field(default_factory=dict)  # quantized ops the ONNX source arrived with
    noise: Any = None  # a parity.noise.NoiseAllowance when the fp32 rule was widened for the reference's noise

    @property
    def keep_quantized(self) -> bool:
        """A graph quantized before it arrived is kept as it is at int8: no calibration, no second pass."""
        return keeps_quantized(self.prequant, self.opts.precision)

    @property
    def check_source(self) -> DataSource | None:
        """Real samples for every check: the eval data, else the calibration data."""
        return self.eval_source if self.eval_source is not None else self.calib_source

    @property
    def precision(self) -> str:
        return self.opts.precision

    @property
    def seed(self) -> int:
        return self.opts.seed

    @property
    def data_description(self) -> str:
        """What parity is measured on: the eval data, else the calibration data, else seeded random inputs."""
        data = self.check_source
        return data.description if data is not None else f"seeded random inputs (seed {self.seed})"
