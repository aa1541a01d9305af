"""The host fingerprint recorded at build time and shown beside the loading host's.

An artifact tuned on an AVX-512 VNNI machine can behave (and perform) differently
on a host without it; the fingerprint makes that visible.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

ISA_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8",
    "amx_bf16", "asimd", "asimddp", "sve", "i8mm", "bf16",
)
LIBRARIES = ("edgekit", "numpy", "onnx", "onnxruntime", "onnxsim", "onnxscript", "torch", "openvino", "tensorrt")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or "", set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Hardware", "CPU part") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata: nothing is imported."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def fingerprint() -> dict[str, Any]:
    model, flags = _cpuinfo()
    return {
        "cpu": model,
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "isa": sorted(f for f in ISA_FLAGS if f in flags),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
