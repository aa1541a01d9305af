"""The host's theoretical peak GFLOP/s per precision, from its ISA flags, cores and clock.

peak = cores x clock x FLOP per cycle per core, where FLOP per cycle is:
- fp32: 2 FMA pipes x (vector bits / 32) lanes x 2 (multiply + add): 64 with AVX-512, 32 with AVX2+FMA;
- bf16: AVX512_BF16's VDPBF16PS does two bf16 products per fp32 lane: 2 x fp32 (AMX-BF16: 1024);
- int8: AVX-512 VNNI's VPDPBUSD does four 8-bit products per 32-bit lane: 4 x fp32 (AMX-INT8: 2048).
Clock: the ``cpu MHz`` /proc/cpuinfo reports (the base clock on VMs; turbo is not counted). Two
FMA pipes at full width is an upper bound: cores that split AVX-512 into two 256-bit halves reach
half of it. Cores: the logical CPUs the process may use.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgekit.hostinfo import _cpuinfo


def clock_ghz() -> float:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except (OSError, ValueError):
        pass
    return 0.0


def flop_per_cycle(flags: set[str]) -> dict[str, float]:
    fp32 = 64.0 if "avx512f" in flags else 32.0 if {"avx2", "fma"} <= flags else 8.0
    bf16 = 1024.0 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32
    int8 = 2048.0 if "amx_int8" in flags else 4 * fp32 if {"avx512_vnni", "avx_vnni"} & flags else 2 * fp32
    return {"fp32": fp32, "bf16": bf16, "int8": int8}


def host_peaks(threads: int | None = None) -> dict[str, float]:
    """Peak GFLOP/s (int8: GOP/s) per precision for ``threads`` cores (default: all usable)."""
    cores = threads or len(os.sched_getaffinity(0))
    ghz = clock_ghz()
    return {p: cores * ghz * f for p, f in flop_per_cycle(_cpuinfo()[1]).items()}


def compute_precision(precision: str) -> str:
    """Which peak a precision's compute is measured against (fp16 computes in f32 on these CPUs)."""
    return {"bf16": "bf16", "int8": "int8", "int8-dynamic": "int8"}.get(precision, "fp32")


if __name__ == "__main__":
    print({k: round(v, 1) for k, v in host_peaks().items()}, f"at {clock_ghz():.2f} GHz")
