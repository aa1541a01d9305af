"""The host's peak GFLOP/s per precision, from its ISA flags, cores and its *measured* sustained clock.

peak = cores x clock x FLOP per cycle per core, where FLOP per cycle is:
- fp32: 2 FMA pipes x (vector bits / 32) lanes x 2 (multiply + add): 64 with AVX-512, 32 with AVX2+FMA
  and with AVX-512 on AMD Zen 4 (family 25), which executes 512-bit ops as two 256-bit halves;
- bf16: AVX512_BF16's VDPBF16PS does two bf16 products per fp32 lane: 2 x fp32 (AMX-BF16: 1024);
- int8: AVX-512 VNNI's VPDPBUSD does four 8-bit products per 32-bit lane: 4 x fp32 (AMX-INT8: 2048).

Clock: the highest of (a) /proc/cpuinfo's ``cpu MHz`` (on VMs the base clock), (b) the maximum
turbo clock in /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq when the kernel exposes it,
and (c) the clock a calibrated fp32 GEMM probe implies: an onnxruntime MatMul of known FLOPs on
``threads`` threads, best of several runs, divided by cores x fp32 FLOP/cycle. (c) is what the
cores sustain under a real compute load; when it is above (a) and (b) the base clock understated
the peak (turbo), and taking it makes the probe itself read at most 100 % of the fp32 peak.

The GEMM probe is also reported on its own as the *achievable* fp32 peak. Two FMA pipes at full
width is an upper bound: cores that split AVX-512 into two 256-bit halves reach half of it.
Cores: the threads the benchmark runs on (default: the logical CPUs the process may use).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgekit.hostinfo import _cpuinfo

MAX_FREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")


def clock_ghz() -> float:
    """The ``cpu MHz`` of /proc/cpuinfo (0.0 when absent)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1]) / 1000
    except (OSError, ValueError):
        pass
    return 0.0


def max_clock_ghz() -> float:
    """The maximum (turbo) clock the kernel reports, in GHz (0.0 when not readable, as on most VMs)."""
    try:
        return int(MAX_FREQ.read_text().strip()) / 1e6  # kHz
    except (OSError, ValueError):
        return 0.0


def _double_pumped() -> bool:
    """AMD Zen 4 (family 25) runs AVX-512 on 256-bit units: half the FLOP/cycle of full-width AVX-512."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    first = (line.partition(":") for line in text.split("\n\n")[0].splitlines())
    fields = {key.strip(): value.strip() for key, _, value in first}
    return fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"


def flop_per_cycle(flags: set[str], double_pumped: bool = False) -> dict[str, float]:
    full_512 = "avx512f" in flags and not double_pumped
    fp32 = 64.0 if full_512 else 32.0 if {"avx2", "fma"} <= flags or "avx512f" in flags else 8.0
    bf16 = 1024.0 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32
    int8 = 2048.0 if "amx_int8" in flags else 4 * fp32 if {"avx512_vnni", "avx_vnni"} & flags else 2 * fp32
    return {"fp32": fp32, "bf16": bf16, "int8": int8}


def gemm_probe_gflops(threads: int, size: int = 1024, repeats: int = 12) -> float:
    """Best fp32 GFLOP/s of a size^3 onnxruntime MatMul on ``threads`` threads (2 x size^3 FLOPs a call)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])
    b = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((size, size), np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm", [a], [y], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"a": np.random.default_rng(1).standard_normal((size, size), np.float32)}
    for _ in range(3):
        session.run(None, feed)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best / 1e9


@dataclass(frozen=True)
class Peak:
    """Peaks per precision for ``cores`` at ``clock_ghz``, and where that clock came from."""

    cores: int
    clock_ghz: float
    clock_source: str
    gemm_gflops: float  # the achievable fp32 peak (GEMM probe); 0.0 when not probed
    per_cycle: dict[str, float] = field(default_factory=dict)

    @property
    def peaks(self) -> dict[str, float]:
        return {p: self.cores * self.clock_ghz * f for p, f in self.per_cycle.items()}

    def describe(self) -> str:
        peaks = ", ".join(f"{p} {v:.0f}" for p, v in self.peaks.items())
        probe = f"; achievable fp32 (GEMM probe) {self.gemm_gflops:.0f} GFLOP/s" if self.gemm_gflops else ""
        return (f"Peak for {self.cores} cores at {self.clock_ghz:.2f} GHz ({self.clock_source}): {peaks} "
                f"GFLOP/s (int8: GOP/s){probe}")


def host_peak(threads: int | None = None, probe: bool = True) -> Peak:
    """The peak for ``threads`` cores at the highest known or measured clock (see the module doc)."""
    cores = threads or len(os.sched_getaffinity(0))
    per_cycle = flop_per_cycle(_cpuinfo()[1], _double_pumped())
    clocks = {"/proc/cpuinfo cpu MHz": clock_ghz(), "cpuinfo_max_freq": max_clock_ghz()}
    gemm = gemm_probe_gflops(cores) if probe else 0.0
    if gemm:
        clocks["clock implied by the GEMM probe"] = gemm / (cores * per_cycle["fp32"])
    source = max(clocks, key=lambda k: clocks[k])
    return Peak(cores, clocks[source], source, gemm, per_cycle)


def host_peaks(threads: int | None = None, probe: bool = True) -> dict[str, float]:
    """Peak GFLOP/s (int8: GOP/s) per precision for ``threads`` cores (default: all usable)."""
    return host_peak(threads, probe).peaks


def compute_precision(precision: str) -> str:
    """Which peak a precision's compute is measured against (fp16 computes in f32 on these CPUs)."""
    return {"bf16": "bf16", "int8": "int8", "int8-dynamic": "int8"}.get(precision, "fp32")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the host's peak GFLOP/s per precision")
    parser.add_argument("--threads", type=int, default=None)
    print(host_peak(parser.parse_args().threads).describe())
