"""Which reduced float precisions this host's CPU executes natively, read from its ISA flags.

bf16 is only worth shipping where the CPU computes it (AVX512_BF16 or AMX-BF16): elsewhere
OpenVINO emulates or silently falls back to f32, and the artifact's parity and speed would not
be the ones measured. fp16 *execution* needs AVX512_FP16 or AMX-FP16; without them OpenVINO's
CPU plugin maps an f16 precision hint to bf16 (measured: benchmarks/bf16_probe.py), so edgekit
does not offer it on such hosts. Pure functions over flag sets, so that tests can state any host.
"""

from __future__ import annotations

from collections.abc import Iterable

NATIVE_FLAGS: dict[str, tuple[str, ...]] = {
    "bf16": ("avx512_bf16", "amx_bf16"),
    "fp16-exec": ("avx512_fp16", "amx_fp16"),
}
EXECUTION_ONLY = ("bf16",)  # precisions a target executes while the portable ONNX stays fp32


def host_flags() -> set[str]:
    from edgekit.hostinfo import _cpuinfo

    return _cpuinfo()[1]


def unsupported_reason(precision: str, flags: Iterable[str] | None = None,
                       capabilities: Iterable[str] | None = None) -> str | None:
    """None when the host executes ``precision`` natively, else why not (one clause).

    ``capabilities`` is OpenVINO's CPU ``OPTIMIZATION_CAPABILITIES`` when known: it must list
    BF16 too, since the plugin decides what it really runs.
    """
    needed = NATIVE_FLAGS.get(precision)
    if needed is None:
        return None
    have = set(host_flags() if flags is None else flags)
    if not have & set(needed):
        return f"this CPU lacks {' / '.join(f.upper() for f in needed)} (it would not compute {precision} natively)"
    if capabilities is not None and precision == "bf16" and "BF16" not in set(capabilities):
        return f"OpenVINO's CPU plugin does not list BF16 in its capabilities ({', '.join(capabilities)})"
    return None


def native_precisions(flags: Iterable[str] | None = None) -> list[str]:
    """The reduced float precisions this host computes natively, among those in NATIVE_FLAGS."""
    have = set(host_flags() if flags is None else flags)
    return [p for p, needed in NATIVE_FLAGS.items() if have & set(needed)]
