"""The precisions a bundle can hold: one type, one list.

``Precision`` is a ``str`` enum, so a member equals its text (``Precision.INT8 == "int8"``),
serialises as it in JSON, and formats as it in messages; manifests keep the plain text.
To add a precision: add a member here, its default parity rule (``parity/metrics.py``), its
lowering (``compiler/quantize.py``) and list it on the targets that can run it.
"""

from __future__ import annotations

from enum import Enum


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"  # static: calibrated QDQ
    INT8_DYNAMIC = "int8-dynamic"  # weights int8, activations quantized at run time
    BF16 = "bf16"  # the portable graph stays fp32; the target computes bf16 (intel-cpu, where native)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def is_int8(self) -> bool:
        return self in (Precision.INT8, Precision.INT8_DYNAMIC)

    @property
    def needs_calibration(self) -> bool:
        return self is Precision.INT8

    @property
    def execution_only(self) -> bool:
        """The bundle's portable graph stays fp32; only the target's execution changes."""
        return self is Precision.BF16


PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision)
INT8_PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision if p.is_int8)
EXECUTION_ONLY: tuple[str, ...] = tuple(p.value for p in Precision if p.execution_only)
# What a backend runs from the portable graph alone: the default of Target.precisions.
GRAPH_PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision if not p.execution_only)
