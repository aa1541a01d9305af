"""Which of a bundle's targets ``load`` takes when none is asked for, and why.

The bundle's own measurements win when they were taken on a host of this class (same CPU
model, architecture and ISA features): a bundle measured cpu 2x faster than intel-cpu there
should not be loaded on intel-cpu just because OpenVINO is "more specialised". Without such
records, the most specialised target comes first.
"""

from __future__ import annotations

import platform
from typing import Any

from edgekit.registry import BACKENDS

# With no measurements for this host class: the most specialised target first (the registry's order).
PREFERENCE = tuple(b.target for b in sorted(BACKENDS, key=lambda b: b.preference))


def host_class(host: dict[str, Any] | None = None) -> tuple[str, str, tuple[str, ...]]:
    """CPU model, architecture and ISA features: what makes speed records transferable."""
    if host is None:
        from edgekit.hostinfo import ISA_FLAGS, _cpuinfo

        model, flags = _cpuinfo()
        host = {"cpu": model, "machine": platform.machine(), "isa": sorted(f for f in ISA_FLAGS if f in flags)}
    return str(host.get("cpu", "")), str(host.get("machine", "")), tuple(sorted(host.get("isa") or ()))


def measured_latency(manifest: dict[str, Any]) -> dict[str, float]:
    """Batch-1 p50 milliseconds per target, from auto's candidates (same precision) or the
    targets' own speed records."""
    names = {t["name"] for t in manifest.get("targets", [])}
    found: dict[str, float] = {}
    for row in (manifest.get("selection") or {}).get("candidates", []):
        if row.get("precision") == manifest.get("precision") and row.get("target") in names \
                and row.get("p50_ms") is not None:
            found[row["target"]] = float(row["p50_ms"])
    for t in manifest.get("targets", []):
        ms = (t.get("speed") or {}).get("ms")
        if ms is not None and t["name"] not in found:
            found[t["name"]] = float(ms)
    return found


def order_targets(manifest: dict[str, Any], names: list[str], here: tuple[str, str, tuple[str, ...]] | None = None
                  ) -> tuple[list[str], str]:
    """``names`` in the order ``load`` tries them, and the reason for the first."""
    specialised = sorted(names, key=lambda n: PREFERENCE.index(n) if n in PREFERENCE else len(PREFERENCE))
    if len(names) < 2:
        return specialised, "the bundle's only target"
    built = manifest.get("build_host")
    same = built is not None and host_class(built) == (here or host_class())
    ms = {n: v for n, v in measured_latency(manifest).items() if n in names}
    if same and set(ms) == set(names):  # a target never timed (a GPU engine, say) may be fastest of all
        fastest = sorted(ms, key=ms.__getitem__)
        order = fastest
        figures = ", ".join(f"{n} {ms[n]:.3g} ms" for n in fastest)
        return order, f"measured fastest when built on a host of this class (p50, batch 1: {figures})"
    why = "no speed records for this host class" if not same else "not every target was timed"
    return specialised, f"most specialised target ({' > '.join(PREFERENCE)}); {why}"
